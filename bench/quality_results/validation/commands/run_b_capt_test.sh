#!/bin/bash
# 2026-12-06 (sixth session): the (b) test grid with the cap as a share of each task's quota
# (select.image_cap_scope=task, the default after run_b_capt.sh); baselines adopted from the
# committed grid. Same settings and seeds as run_cap_adopt.sh's (b) cells.
# usage: run_b_capt_test.sh adopt, then 1 and 2 (in parallel), then report
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
DEG="--degrade noise:sigma=25 --degrade blur:sigma=1.5 --degrade jpeg:quality=20 --degrade lowlight --degrade haze --degrade rain"
NAF=(--set train.arch=nafnet --set 'train.arch_kwargs={width: 8, enc_blocks: [1, 1, 1], middle_blocks: 1, dec_blocks: [1, 1, 1]}')
B="../shared/data/pool/Urban100_HR_first50 $DEG --test ../shared/data/denoise/CBSD68 --max-test-images 10 \
   --patch 64 --stride 64 --steps 400 --batch 16 --out runs/quality/allinone_naf_capt"
Q="nice -n 10 tripled-fast bench-quality --set select.image_cap=true --set select.image_cap_scope=task"
ALL="--methods full,random,kmeans,kcenter,tripled --report-only --budgets 0.0025,0.005,0.01,0.02 --seeds 0,1,2,3,4,5,6,7"
case $1 in
  adopt) mkdir -p runs/quality/allinone_naf_capt && cp -r runs/quality/allinone_naf_cap/cache runs/quality/allinone_naf_capt/ 2>/dev/null
         $Q $B "${NAF[@]}" $ALL --adopt bench/quality_results/allinone_naf ;;
  1) $Q $B "${NAF[@]}" --methods tripled --budgets 0.0025,0.005 --seeds 0,1,2,3
     $Q $B "${NAF[@]}" --methods tripled --budgets 0.01,0.02 --seeds 0 ;;
  2) $Q $B "${NAF[@]}" --methods tripled --budgets 0.0025,0.005 --seeds 4,5,6,7
     $Q $B "${NAF[@]}" --methods tripled --budgets 0.01,0.02 --seeds 1,2 ;;
  report) $Q $B "${NAF[@]}" $ALL ;;
esac
