#!/bin/bash
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
while kill -0 17474 2>/dev/null; do sleep 5; done
COMMON="../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 --holdout 0.2 --patch 48 --stride 48 --budgets 0.005,0.01 --seeds 0,1,2,3 --steps 400 --batch 16"
mkdir -p /tmp/qv/sr4_clauto_cw0; ln -sfn /tmp/qv/sr4_default/cache /tmp/qv/sr4_clauto_cw0/cache
nice -n 10 tripled-fast bench-quality $COMMON --methods tripled --set select.complexity_weight=0.0 --out /tmp/qv/sr4_clauto_cw0
