#!/bin/bash
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
while pgrep -f run_z.sh >/dev/null; do sleep 5; done
A="../shared/data/denoise/Train400 --degrade noise:sigma=25 --holdout 0.1 --steps 800"
C="../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 --holdout 0.2 --patch 48 --stride 48 --steps 400 --batch 16"
nice -n 10 tripled-fast bench-quality $A --budgets 0.005,0.01 --seeds 0,1,2,3 --methods tripled --set select.quotas=tasks --out /tmp/qv/dn_x_tasks
nice -n 10 tripled-fast bench-quality $A --budgets 0.005,0.01 --seeds 0,1,2,3 --methods random,tripled --set select.quotas=clusters --out /tmp/qv/dn_x
