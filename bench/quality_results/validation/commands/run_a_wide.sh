#!/bin/bash
# 2026-12-07 (fifteenth session): task (a) gray denoising test grid with a 10x larger network,
# a step toward the GPU setting (DnCNN depth 17 width 64, 20k steps) that the CPU cannot run:
# DnCNN depth 10, width 32, no BN (74,593 parameters against the CPU default's 7,265), 1600 steps
# x 16 (one epoch of the 25,600-patch pool), every other setting as the (a) grid. Measured one
# train step of batch 16 at one thread: 0.147 s (depth 17 width 64: 0.77 s, too slow to run here).
# A measurement, not a tuning step: the default selection is unchanged, and no default changes
# this session whatever it shows. The question: with more capacity, does TripleD's margin over
# random at the two smallest budgets (0.1 / 0.25 %) grow beyond the seed spread, and where do
# random and TripleD reach full data? Planned before any run, in this order:
#   p1: full (seeds 0, 1), random and TripleD at 0.1 / 0.25 %, seeds 0-3
#   p2: random and TripleD at 0.5 / 1 %, seeds 0-1 (the equal-quality budgets)
#   p3: random and TripleD at 0.1 / 0.25 %, seeds 4-7 (8 seeds, as the other grids' targets);
#       run only if it can start by 06:45 UTC, else reported as not run.
# Added in the sixteenth session (2026-12-07), committed before its runs: ka / kb, the k-center
# baseline at 0.1 / 0.25 %, seeds 0-3 (left out in the fifteenth session; the time left allows four
# seeds, not eight). k-center is the default's coverage step without its 10 % complexity picks,
# image cap or duplicate removal, so beside random and the default it shows whether coverage alone
# falls below random on BSD68 with this network. A measurement, no default changes.
# Then kc / kd, the same at seeds 4-7 (8 seeds, as random and TripleD), started at 10:05 UTC with
# about 30 minutes of the session left; reported only if they finish.
# usage: run_a_wide.sh p1a|p1b|p2a|p2b|p3a|p3b|report|ka|kb|kc|kd|reportk   (two processes, 1 thread each)
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
A=(../shared/data/denoise/Train400 --degrade noise:sigma=25 --test ../shared/data/denoise/Set12
   --test ../shared/data/denoise/BSD68 --steps 1600 --out runs/quality/denoise_w32d10
   --set 'train.arch_kwargs={depth: 10, width: 32, bn: false}')
case $1 in
  p1a) nice -n 10 tripled-fast bench-quality "${A[@]}" --methods full --budgets 0.001 --seeds 0
       nice -n 10 tripled-fast bench-quality "${A[@]}" --methods random,tripled --budgets 0.001,0.0025 --seeds 0,1 ;;
  p1b) sleep 150
       nice -n 10 tripled-fast bench-quality "${A[@]}" --methods full --budgets 0.001 --seeds 1
       nice -n 10 tripled-fast bench-quality "${A[@]}" --methods random,tripled --budgets 0.001,0.0025 --seeds 2,3 ;;
  p2a) nice -n 10 tripled-fast bench-quality "${A[@]}" --methods random,tripled --budgets 0.005,0.01 --seeds 0 ;;
  p2b) nice -n 10 tripled-fast bench-quality "${A[@]}" --methods random,tripled --budgets 0.005,0.01 --seeds 1 ;;
  p3a) nice -n 10 tripled-fast bench-quality "${A[@]}" --methods random,tripled --budgets 0.001,0.0025 --seeds 4,5 ;;
  p3b) nice -n 10 tripled-fast bench-quality "${A[@]}" --methods random,tripled --budgets 0.001,0.0025 --seeds 6,7 ;;
  report) tripled-fast bench-quality "${A[@]}" --methods full,random,tripled --budgets 0.001,0.0025,0.005,0.01 \
            --seeds 0,1,2,3,4,5,6,7 --report-only ;;
  ka) nice -n 10 tripled-fast bench-quality "${A[@]}" --methods kcenter --budgets 0.001,0.0025 --seeds 0,1 ;;
  kb) sleep 150; nice -n 10 tripled-fast bench-quality "${A[@]}" --methods kcenter --budgets 0.001,0.0025 --seeds 2,3 ;;
  kc) nice -n 10 tripled-fast bench-quality "${A[@]}" --methods kcenter --budgets 0.001,0.0025 --seeds 4,5 ;;
  kd) nice -n 10 tripled-fast bench-quality "${A[@]}" --methods kcenter --budgets 0.001,0.0025 --seeds 6,7 ;;
  reportk) tripled-fast bench-quality "${A[@]}" --methods full,random,kcenter,tripled --budgets 0.001,0.0025,0.005,0.01 \
            --seeds 0,1,2,3,4,5,6,7 --report-only ;;
esac
