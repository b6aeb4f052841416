#!/bin/bash
# 2026-12-06 (eighth session), a diagnostic fixed before these runs, not a tuning step: on the (b)
# test grid at 800 steps k-center at 0.25 % (3 seeds) came out above TripleD (4 seeds). Does the
# (b) validation split (holdout 0.2 of the pool photos, as run_b_capt.sh) show the same at 800
# steps? random, k-center and the current default at 0.25 %, seeds 0-3. Whatever it shows, no
# default changes this session (a change would need every test grid retrained).
# usage: run_b800_val.sh 1|2 (in parallel), then run_b800_val.sh report
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
while pgrep -f "run_b800.sh s47" >/dev/null; do sleep 10; done  # ran after the seeds 4-7 of (b)
DEG="--degrade noise:sigma=25 --degrade blur:sigma=1.5 --degrade jpeg:quality=20 --degrade lowlight --degrade haze --degrade rain"
NAF=(--set train.arch=nafnet --set 'train.arch_kwargs={width: 8, enc_blocks: [1, 1, 1], middle_blocks: 1, dec_blocks: [1, 1, 1]}')
V="../shared/data/pool/Urban100_HR_first50 $DEG --holdout 0.2 --patch 64 --stride 64 --budgets 0.0025 --steps 800 --batch 16 \
   --out runs/val/allinone_naf_s800"
Q="nice -n 10 tripled-fast bench-quality"
case $1 in
  1) $Q $V "${NAF[@]}" --methods random,kcenter,tripled --seeds 0,1 ;;
  2) until ls runs/val/allinone_naf_s800/cache/scan_*.npz >/dev/null 2>&1; do sleep 10; done
     $Q $V "${NAF[@]}" --methods random,kcenter,tripled --seeds 2,3 ;;
  report) tripled-fast bench-quality $V "${NAF[@]}" --methods random,kcenter,tripled --seeds 0,1,2,3 --report-only ;;
esac
# then, fixed before these runs: the default against random at 0.5 / 1 % on the same split at 800
# steps (the "at least as good as random at every budget" check at this length), seeds 0-3:
#   run_b800_val.sh m1 and m2 (in parallel), then run_b800_val.sh report_m
case $1 in
  m1) $Q ${V/--budgets 0.0025/--budgets 0.005,0.01} "${NAF[@]}" --methods random,tripled --seeds 0,1 ;;
  m2) $Q ${V/--budgets 0.0025/--budgets 0.005,0.01} "${NAF[@]}" --methods random,tripled --seeds 2,3 ;;
  report_m) tripled-fast bench-quality ${V/--budgets 0.0025/--budgets 0.0025,0.005,0.01} "${NAF[@]}" \
              --methods random,kcenter,tripled --seeds 0,1,2,3 --report-only ;;
esac
