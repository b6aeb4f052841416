#!/bin/bash
# 2026-12-02, after the cw change: seeds 4-7 of the (c) 0.25 % validation cell, to check the decision
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
COMMON="../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 --holdout 0.2 --patch 48 --stride 48 --budgets 0.0025 --seeds 4,5,6,7 --steps 400 --batch 16"
nice -n 10 tripled-fast bench-quality $COMMON --methods random,kcenter,tripled --set select.complexity_weight=0.3 --out runs/val/sr4_v025
nice -n 10 tripled-fast bench-quality $COMMON --methods tripled --set select.complexity_weight=0.1 --out runs/val/sr4_v025_cw01
