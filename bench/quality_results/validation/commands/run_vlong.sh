#!/bin/bash
# 2026-12-02 (fourth session): validation splits at longer training - (c) BSD100 --holdout 0.2 at
# 1600 steps, (a) Train400 --holdout 0.1 at 3200 steps - random, kcenter (= TripleD cw 0) and the
# default TripleD (cw 0.1) at the two smallest budgets, 4 seeds.
# usage: run_vlong.sh c 0,1 | c 2,3 | a 0,1 | a 2,3   (two processes, 1 thread each)
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
if [ "$1" = c ]; then
  V="../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 --holdout 0.2 \
     --patch 48 --stride 48 --steps 1600 --batch 16 --budgets 0.0025,0.005 --out runs/val/sr4_s1600"
else
  V="../shared/data/denoise/Train400 --degrade noise:sigma=25 --holdout 0.1 --steps 3200 \
     --budgets 0.001,0.0025 --out runs/val/dn_s3200"
fi
nice -n 10 tripled-fast bench-quality $V --methods random,kcenter,tripled --seeds $2
