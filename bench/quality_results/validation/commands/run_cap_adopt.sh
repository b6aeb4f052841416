#!/bin/bash
# 2026-12-06 (sixth session): adopting select.image_cap as the default. The TripleD cells of the
# four test grids are retrained with the cap on; the baselines (full, random, k-means, k-center) are
# adopted from the current test-grid records (their run keys leave out the select section), so the
# report holds the same baseline runs as bench/QUALITY.md's test tables. Same settings and seeds
# as each grid (run_seeds47.sh, run_b_naf*.sh). Two processes with one thread each.
# usage: run_cap_adopt.sh adopt, then 1 and 2 (in parallel), then report
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
R=bench/quality_results
C="../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 \
   --test ../shared/data/sr/Set5/HR:../shared/data/sr/Set5/LR_bicubic_X4:{}x4 \
   --test ../shared/data/sr/Set14_x4/HR:../shared/data/sr/Set14_x4/LR:sorted \
   --patch 48 --stride 48 --steps 400 --batch 16 --out runs/quality/sr4_cap"
D="../shared/data/realsr/HR --lq ../shared/data/realsr/LR --holdout 0.34 --patch 48 --stride 48 \
   --steps 400 --batch 16 --out runs/quality/realsr_cap"
A="../shared/data/denoise/Train400 --degrade noise:sigma=25 --test ../shared/data/denoise/Set12 \
   --test ../shared/data/denoise/BSD68 --steps 800 --out runs/quality/denoise_cap"
DEG="--degrade noise:sigma=25 --degrade blur:sigma=1.5 --degrade jpeg:quality=20 --degrade lowlight --degrade haze --degrade rain"
NAF=(--set train.arch=nafnet --set 'train.arch_kwargs={width: 8, enc_blocks: [1, 1, 1], middle_blocks: 1, dec_blocks: [1, 1, 1]}')
B="../shared/data/pool/Urban100_HR_first50 $DEG --test ../shared/data/denoise/CBSD68 --max-test-images 10 \
   --patch 64 --stride 64 --steps 400 --batch 16 --out runs/quality/allinone_naf_cap"
Q="nice -n 10 tripled-fast bench-quality --set select.image_cap=true"   # explicit, so the same run keys before and after the default changes
ALL="--methods full,random,kmeans,kcenter,tripled --report-only"
case $1 in
  adopt)
     $Q $D $ALL --budgets 0.005,0.01,0.02 --seeds 0,1,2,3,4,5,6,7 --adopt $R/realsr_tasks
     $Q $C $ALL --budgets 0.0025,0.005,0.01,0.02 --seeds 0,1,2,3,4,5,6,7 --adopt $R/sr4_tasks
     $Q $A $ALL --budgets 0.001,0.0025,0.005,0.01,0.02 --seeds 0,1,2,3,4,5,6,7 --adopt $R/denoise_tasks
     $Q $B "${NAF[@]}" $ALL --budgets 0.0025,0.005,0.01,0.02 --seeds 0,1,2,3,4,5,6,7 --adopt $R/allinone_naf ;;
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
     for x in "$D --budgets 0.005,0.01,0.02" "$C --budgets 0.0025,0.005,0.01,0.02" "$A --budgets 0.001,0.0025,0.005,0.01,0.02"; do
       $Q $x $ALL --seeds 0,1,2,3,4,5,6,7; done
     $Q $B "${NAF[@]}" $ALL --budgets 0.0025,0.005,0.01,0.02 --seeds 0,1,2,3,4,5,6,7 ;;
esac
