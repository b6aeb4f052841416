#!/bin/bash
# 2026-12-06 (eighth session), fixed before these runs: seeds 4-7 for random and TripleD at the
# two smallest budgets (0.25 / 0.5 %) of (b) at 800 steps, so that the cells the second target is
# judged on rest on 8 seeds per method, as on every other grid (run_seeds47.sh did the same for
# (a), (c), (d) at their first lengths). Same settings as run_b800.sh; no other change.
# usage: run_b800_s47.sh 1|2 (in parallel, after run_b800.sh k1 / k2), then the report at the end
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
while pgrep -f "run_b800.sh k" >/dev/null; do sleep 10; done
DEG="--degrade noise:sigma=25 --degrade blur:sigma=1.5 --degrade jpeg:quality=20 --degrade lowlight --degrade haze --degrade rain"
NAF=(--set train.arch=nafnet --set 'train.arch_kwargs={width: 8, enc_blocks: [1, 1, 1], middle_blocks: 1, dec_blocks: [1, 1, 1]}')
OUT=runs/quality/allinone_naf_s800
T="../shared/data/pool/Urban100_HR_first50 $DEG --test ../shared/data/denoise/CBSD68 --max-test-images 10 \
   --patch 64 --stride 64 --steps 800 --batch 16 --out $OUT"
Q="nice -n 10 tripled-fast bench-quality"
case $1 in
  1) $Q $T "${NAF[@]}" --methods random,tripled --budgets 0.0025,0.005 --seeds 4,5 ;;
  2) $Q $T "${NAF[@]}" --methods random,tripled --budgets 0.0025,0.005 --seeds 6,7 ;;
esac
# report (every method, every budget, the seeds each cell has):
#   tripled-fast bench-quality <the T and NAF settings of run_b800.sh> --methods full,random,kmeans,kcenter,tripled \
#     --budgets 0.0025,0.005,0.01,0.02 --seeds 0,1,2,3,4,5,6,7 --report-only
