#!/bin/bash
# 2026-12-06 (seventh session): task (d) real SR test grid at 1600 steps (4x the 400-step grid, as
# (c) at 1600), with the current default (select.image_cap on). Same split, patches and methods as
# the 400-step grid (bench/QUALITY.md, "(d) real SR"); budgets 0.5, 1, 2 and 5 % (5 % added in
# advance, in case longer training moves full data out of reach at 2 %). Seed plan as (c) at 1600
# steps, fixed before any run: all methods seeds 0-3 at 0.5 / 1 %, 0-1 at 2 / 5 %; random and
# TripleD also seeds 4-7 at 0.5 / 1 %.
# usage: run_d1600.sh 1|2   (two processes on the two cores, 1 thread each), then run_d1600.sh report
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
D="../shared/data/realsr/HR --lq ../shared/data/realsr/LR --holdout 0.34 --patch 48 --stride 48 \
   --steps 1600 --batch 16 --out runs/quality/realsr_s1600"
ALL=full,random,kmeans,kcenter,tripled
case $1 in
  1) nice -n 10 tripled-fast bench-quality $D --methods $ALL --budgets 0.005,0.01,0.02,0.05 --seeds 0,1 ;;
  2) sleep 60
     nice -n 10 tripled-fast bench-quality $D --methods random,kmeans,kcenter,tripled --budgets 0.005,0.01 --seeds 2,3
     nice -n 10 tripled-fast bench-quality $D --methods random,tripled --budgets 0.005,0.01 --seeds 4,5,6,7 ;;
  report) tripled-fast bench-quality $D --methods $ALL --budgets 0.005,0.01,0.02,0.05 --seeds 0,1,2,3,4,5,6,7 --report-only ;;
esac
# tenth session (2026-12-06), fixed before these runs: the cells of 2 % and above rested on 2 seeds,
# and at 5 % TripleD was below random beyond the spread. Seeds 2-3 for random and TripleD at 2 / 5 %
# (4 seeds each), then, if the session leaves time, k-means / k-center at 2 / 5 %, seeds 2-3.
#   run_d1600.sh t2a and t2b (in parallel), then k2a and k2b, then report
case $1 in
  t2a) nice -n 10 tripled-fast bench-quality $D --methods random,tripled --budgets 0.02,0.05 --seeds 2 ;;
  t2b) nice -n 10 tripled-fast bench-quality $D --methods random,tripled --budgets 0.02,0.05 --seeds 3 ;;
  k2a) nice -n 10 tripled-fast bench-quality $D --methods kmeans,kcenter --budgets 0.02,0.05 --seeds 2 ;;
  k2b) nice -n 10 tripled-fast bench-quality $D --methods kmeans,kcenter --budgets 0.02,0.05 --seeds 3 ;;
esac
