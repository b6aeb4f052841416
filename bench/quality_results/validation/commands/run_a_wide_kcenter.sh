#!/bin/bash
# 2026-12-07 (sixteenth session): the k-center baseline on the (a) test grid with the 10x larger
# network (run_a_wide.sh's setting and folder; left out in the fifteenth session). k-center is
# the default's coverage step without its 10 % complexity picks, image cap or duplicate removal,
# so beside random and the default it shows whether coverage alone falls below random on BSD68
# with this network. 0.1 / 0.25 %, seeds 0-3 (the time left allows four, not eight). Planned and
# committed before its runs; a measurement, no default changes.
# usage: run_a_wide_kcenter.sh a|b|report   (two processes, 1 thread each)
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
A=(../shared/data/denoise/Train400 --degrade noise:sigma=25 --test ../shared/data/denoise/Set12
   --test ../shared/data/denoise/BSD68 --steps 1600 --out runs/quality/denoise_w32d10
   --set 'train.arch_kwargs={depth: 10, width: 32, bn: false}')
case $1 in
  a) nice -n 10 tripled-fast bench-quality "${A[@]}" --methods kcenter --budgets 0.001,0.0025 --seeds 0,1 ;;
  b) sleep 150; nice -n 10 tripled-fast bench-quality "${A[@]}" --methods kcenter --budgets 0.001,0.0025 --seeds 2,3 ;;
  report) tripled-fast bench-quality "${A[@]}" --methods full,random,kcenter,tripled --budgets 0.001,0.0025,0.005,0.01 \
            --seeds 0,1,2,3,4,5,6,7 --report-only ;;
esac
