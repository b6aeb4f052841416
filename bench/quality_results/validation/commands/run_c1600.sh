#!/bin/bash
# 2026-12-02 (fourth session): task (c) x4 SR test grid at 1600 steps (the 400-step grid trains full
# data for less than one epoch of the 7,000-patch pool; 1600 x 16 = 3.7 epochs). Same defaults.
# usage: run_c1600.sh 1|2   (two processes on the two cores, 1 thread each), then run_c1600.sh report
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
C="../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 \
   --test ../shared/data/sr/Set5/HR:../shared/data/sr/Set5/LR_bicubic_X4:{}x4 \
   --test ../shared/data/sr/Set14_x4/HR:../shared/data/sr/Set14_x4/LR:sorted \
   --patch 48 --stride 48 --steps 1600 --batch 16 --out runs/quality/sr4_s1600"
ALL=full,random,kmeans,kcenter,tripled
case $1 in
  1) nice -n 10 tripled-fast bench-quality $C --methods $ALL --budgets 0.0025,0.005,0.01,0.02 --seeds 0,1 ;;
  2) sleep 60
     nice -n 10 tripled-fast bench-quality $C --methods $ALL --budgets 0.0025,0.005 --seeds 2,3
     nice -n 10 tripled-fast bench-quality $C --methods random,tripled --budgets 0.0025,0.005 --seeds 4,5,6,7 ;;
  report) tripled-fast bench-quality $C --methods $ALL --budgets 0.0025,0.005,0.01,0.02 --seeds 0,1,2,3,4,5,6,7 --report-only ;;
esac
# added after the first report: a 5 % column (2 seeds), to tell whether 2 % is at most half of
# random's equal-quality budget on Set5:   run_c1600.sh 5a  and  run_c1600.sh 5b, then report5
case $1 in
  5a) nice -n 10 tripled-fast bench-quality $C --methods random,tripled --budgets 0.05 --seeds 0,1 ;;
  5b) nice -n 10 tripled-fast bench-quality $C --methods kmeans,kcenter --budgets 0.05 --seeds 0,1 ;;
  report5) tripled-fast bench-quality $C --methods $ALL --budgets 0.0025,0.005,0.01,0.02,0.05 --seeds 0,1,2,3,4,5,6,7 --report-only ;;
esac
