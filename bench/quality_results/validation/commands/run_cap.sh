#!/bin/bash
# 2026-12-02 (fifth session): select.image_cap=true on the (c) and (a) validation splits, the same
# cells as run_trim.sh (the (d) folds: run_dval.sh FOLD SEEDS cap).
# usage: run_cap.sh c|a   (one process per task, 1 thread each)
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
if [ "$1" = c ]; then
  COMMON="../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 --holdout 0.2 --patch 48 --stride 48 --steps 400 --batch 16"
  nice -n 10 tripled-fast bench-quality $COMMON --budgets 0.0025 --seeds 0,1,2,3,4,5,6,7 --methods tripled --set select.image_cap=true --out runs/val/sr4_cap
  nice -n 10 tripled-fast bench-quality $COMMON --budgets 0.005,0.01 --seeds 0,1,2,3 --methods tripled --set select.image_cap=true --out runs/val/sr4_cap
elif [ "$1" = a ]; then
  COMMON="../shared/data/denoise/Train400 --degrade noise:sigma=25 --holdout 0.1 --steps 800"
  nice -n 10 tripled-fast bench-quality $COMMON --budgets 0.001,0.0025,0.005 --seeds 0,1,2,3 --methods tripled --set select.image_cap=true --out runs/val/dn_cap
fi
# second call: seeds 4-7 at (c) 0.5 / 1 % for the default and the cap (4 seeds left the 1 % cell
# at -0.033 dB):   run_cap.sh c2   (the (d) folds: run_dval.sh FOLD 8,...,15 cap). The default's
# new records were committed as validation/sr4_default_s47 (sr4_v025_cw01 keeps its 16)
if [ "$1" = c2 ]; then
  COMMON="../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 --holdout 0.2 --patch 48 --stride 48 --steps 400 --batch 16"
  nice -n 10 tripled-fast bench-quality $COMMON --budgets 0.005,0.01 --seeds 4,5,6,7 --methods tripled --out runs/val/sr4_v025_cw01
  nice -n 10 tripled-fast bench-quality $COMMON --budgets 0.005,0.01 --seeds 4,5,6,7 --methods tripled --set select.image_cap=true --out runs/val/sr4_cap
fi
