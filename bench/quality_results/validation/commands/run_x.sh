#!/bin/bash
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
while kill -0 19085 2>/dev/null; do sleep 5; done
C="../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 --holdout 0.2 --patch 48 --stride 48 --budgets 0.02 --seeds 0,1 --steps 400 --batch 16"
nice -n 10 tripled-fast bench-quality $C --methods random,tripled --out /tmp/qv/sr4_default
nice -n 10 tripled-fast bench-quality $C --methods tripled --set select.clusters=1 --set select.complexity_weight=0.3 --out /tmp/qv/sr4_cl1_cw03
A="../shared/data/denoise/Train400 --degrade noise:sigma=25 --holdout 0.1 --budgets 0.005,0.01 --seeds 0,1 --steps 800"
nice -n 10 tripled-fast bench-quality $A --methods random,tripled --out /tmp/qv/dn_default
nice -n 10 tripled-fast bench-quality $A --methods tripled --set select.clusters=1 --set select.complexity_weight=0.3 --out /tmp/qv/dn_cl1_cw03
