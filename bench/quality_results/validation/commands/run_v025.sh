#!/bin/bash
# 2026-12-02: (c) validation at 0.25 % (18 -> 14 patches of the 80-image holdout pool), 4 seeds
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
COMMON="../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 --holdout 0.2 --patch 48 --stride 48 --budgets 0.0025 --seeds 0,1,2,3 --steps 400 --batch 16"
nice -n 10 tripled-fast bench-quality $COMMON --methods random,kcenter,tripled --out runs/val/sr4_v025
nice -n 10 tripled-fast bench-quality $COMMON --methods tripled --set select.complexity_weight=0.1 --adopt runs/val/sr4_v025 --out runs/val/sr4_v025_cw01
