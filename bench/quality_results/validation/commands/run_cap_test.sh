#!/bin/bash
# 2026-12-02 (fifth session): for the case that select.image_cap becomes the default (not yet:
# bench/QUALITY.md). Then the TripleD cells of the test grids are retrained (baselines unchanged:
# their run keys leave out the select section). Same settings and seeds as each grid
# (run_seeds47.sh, run_b_naf*.sh). Started in the background at the end of the session; nothing
# from it is reported.
# usage: run_cap_test.sh 1|2   (two processes, 1 thread each), then run_cap_test.sh report
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
C="../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 \
   --test ../shared/data/sr/Set5/HR:../shared/data/sr/Set5/LR_bicubic_X4:{}x4 \
   --test ../shared/data/sr/Set14_x4/HR:../shared/data/sr/Set14_x4/LR:sorted \
   --patch 48 --stride 48 --steps 400 --batch 16 --out runs/quality/sr4"
D="../shared/data/realsr/HR --lq ../shared/data/realsr/LR --holdout 0.34 --patch 48 --stride 48 \
   --steps 400 --batch 16 --out runs/quality/realsr"
A="../shared/data/denoise/Train400 --degrade noise:sigma=25 --test ../shared/data/denoise/Set12 \
   --test ../shared/data/denoise/BSD68 --steps 800 --out runs/quality/denoise"
DEG="--degrade noise:sigma=25 --degrade blur:sigma=1.5 --degrade jpeg:quality=20 --degrade lowlight --degrade haze --degrade rain"
NAF=(--set train.arch=nafnet --set 'train.arch_kwargs={width: 8, enc_blocks: [1, 1, 1], middle_blocks: 1, dec_blocks: [1, 1, 1]}')
B="../shared/data/pool/Urban100_HR_first50 $DEG --test ../shared/data/denoise/CBSD68 --max-test-images 10 \
   --patch 64 --stride 64 --steps 400 --batch 16 --out runs/quality/allinone_naf"
Q="nice -n 10 tripled-fast bench-quality --set select.image_cap=true"   # explicit: the same run key as the default on
case $1 in
  1) $Q $D --methods tripled --budgets 0.005,0.01 --seeds 0,1,2,3,4,5,6,7
     $Q $D --methods tripled --budgets 0.02 --seeds 0,1
     $Q $C --methods tripled --budgets 0.0025,0.005 --seeds 0,1,2,3,4,5,6,7
     $Q $C --methods tripled --budgets 0.01,0.02 --seeds 0,1
     $Q $B "${NAF[@]}" --methods tripled --budgets 0.0025,0.005 --seeds 0,1,2,3
     $Q $B "${NAF[@]}" --methods tripled --budgets 0.01,0.02 --seeds 0 ;;
  2) $Q $A --methods tripled --budgets 0.001,0.0025 --seeds 0,1,2,3,4,5,6,7
     $Q $A --methods tripled --budgets 0.005,0.01,0.02 --seeds 0,1
     $Q $B "${NAF[@]}" --methods tripled --budgets 0.0025,0.005 --seeds 4,5,6,7
     $Q $B "${NAF[@]}" --methods tripled --budgets 0.01,0.02 --seeds 1,2 ;;
  report)
     tripled-fast bench-quality --set select.image_cap=true $D --methods full,random,kmeans,kcenter,tripled --budgets 0.005,0.01,0.02 --seeds 0,1,2,3,4,5,6,7 --report-only
     tripled-fast bench-quality --set select.image_cap=true $C --methods full,random,kmeans,kcenter,tripled --budgets 0.0025,0.005,0.01,0.02 --seeds 0,1,2,3,4,5,6,7 --report-only
     tripled-fast bench-quality --set select.image_cap=true $A --methods full,random,kmeans,kcenter,tripled --budgets 0.001,0.0025,0.005,0.01,0.02 --seeds 0,1,2,3,4,5,6,7 --report-only
     tripled-fast bench-quality --set select.image_cap=true $B "${NAF[@]}" --methods full,random,kmeans,kcenter,tripled --budgets 0.0025,0.005,0.01,0.02 --seeds 0,1,2,3,4,5,6,7 --report-only ;;
esac
