#!/bin/bash
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
while kill -0 20393 2>/dev/null; do sleep 5; done
A="../shared/data/denoise/Train400 --degrade noise:sigma=25 --holdout 0.1 --steps 800"
C="../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 --holdout 0.2 --patch 48 --stride 48 --steps 400 --batch 16"
mkdir -p /tmp/qv/dn_cl2 /tmp/qv/sr4_cl2; ln -sfn /tmp/qv/dn_default/cache /tmp/qv/dn_cl2/cache; ln -sfn /tmp/qv/sr4_default/cache /tmp/qv/sr4_cl2/cache
nice -n 10 tripled-fast bench-quality $C --budgets 0.005,0.01 --seeds 0,1,2,3 --methods tripled --set select.quotas=clusters --set select.clusters=2 --out /tmp/qv/sr4_cl2
nice -n 10 tripled-fast bench-quality $A --budgets 0.001,0.0025 --seeds 0,1,2,3 --methods tripled --set select.quotas=clusters --set select.clusters=2 --out /tmp/qv/dn_cl2
