#!/bin/bash
# 2026-12-06 (sixth session): the longer-training test grids ((c) 1600 steps, (a) 3200 steps;
# run_c1600.sh, run_a3200.sh) with select.image_cap, the new default: TripleD cells retrained, the
# baselines adopted from the committed grids. Same seeds and budgets as those scripts.
# usage: run_cap_long.sh adopt, then 1 and 2 (in parallel), then report
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
R=bench/quality_results
C="../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 \
   --test ../shared/data/sr/Set5/HR:../shared/data/sr/Set5/LR_bicubic_X4:{}x4 \
   --test ../shared/data/sr/Set14_x4/HR:../shared/data/sr/Set14_x4/LR:sorted \
   --patch 48 --stride 48 --steps 1600 --batch 16 --out runs/quality/sr4_s1600_cap"
A="../shared/data/denoise/Train400 --degrade noise:sigma=25 --test ../shared/data/denoise/Set12 \
   --test ../shared/data/denoise/BSD68 --steps 3200 --out runs/quality/denoise_s3200_cap"
Q="nice -n 10 tripled-fast bench-quality --set select.image_cap=true"
ALL="--methods full,random,kmeans,kcenter,tripled --report-only --seeds 0,1,2,3,4,5,6,7"
case $1 in
  adopt)
     $Q $C $ALL --budgets 0.0025,0.005,0.01,0.02,0.05 --adopt $R/sr4_s1600
     $Q $A $ALL --budgets 0.001,0.0025,0.005,0.01 --adopt $R/denoise_s3200 ;;
  1) $Q $C --methods tripled --budgets 0.0025,0.005 --seeds 0,1,2,3,4,5,6,7
     $Q $C --methods tripled --budgets 0.01,0.02,0.05 --seeds 0,1 ;;
  2) $Q $A --methods tripled --budgets 0.001,0.0025 --seeds 0,1,2,3,4,5,6,7
     $Q $A --methods tripled --budgets 0.005,0.01 --seeds 0,1 ;;
  report)
     $Q $C $ALL --budgets 0.0025,0.005,0.01,0.02,0.05
     $Q $A $ALL --budgets 0.001,0.0025,0.005,0.01 ;;
esac
