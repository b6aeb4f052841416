#!/bin/bash
# 2026-12-02 (fourth session): task (a) gray denoising test grid at 3200 steps (800 x 16 was half
# an epoch of the 25,600-patch pool; 3200 x 16 = 2 epochs). Same defaults; budgets 0.1-1 %.
# usage: run_a3200.sh 1|2   (two processes, 1 thread each), then run_a3200.sh report
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
A="../shared/data/denoise/Train400 --degrade noise:sigma=25 --test ../shared/data/denoise/Set12 \
   --test ../shared/data/denoise/BSD68 --steps 3200 --out runs/quality/denoise_s3200"
ALL=full,random,kmeans,kcenter,tripled
case $1 in
  1) nice -n 10 tripled-fast bench-quality $A --methods $ALL --budgets 0.001,0.0025,0.005,0.01 --seeds 0,1 ;;
  2) sleep 90
     nice -n 10 tripled-fast bench-quality $A --methods $ALL --budgets 0.001,0.0025 --seeds 2,3
     nice -n 10 tripled-fast bench-quality $A --methods random,tripled --budgets 0.001,0.0025 --seeds 4,5,6,7 ;;
  report) tripled-fast bench-quality $A --methods $ALL --budgets 0.001,0.0025,0.005,0.01 --seeds 0,1,2,3,4,5,6,7 --report-only ;;
esac
