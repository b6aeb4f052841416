#!/bin/bash
# 2026-12-02: select.cross_task on the (b) all-in-one validation split (Urban100_HR_first50
# --holdout 0.2: 40 pool images x 6 degradations = 44,682 patches; holdout 10 images x 6),
# complexity_weight 0.3 (the default of that hour). The first call was started with seeds 0,1,2
# and stopped after seeds 0 and 1 had finished at both budgets (its seed-2 cells were never
# used); the report below collects seeds 0 and 1.
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1
B="../shared/data/pool/Urban100_HR_first50 --degrade noise:sigma=25 --degrade blur:sigma=1.5 --degrade jpeg:quality=20 --degrade lowlight --degrade haze --degrade rain --holdout 0.2 --patch 64 --stride 64 --budgets 0.005,0.01 --seeds 0,1 --steps 400 --batch 16 --set select.complexity_weight=0.3"
nice -n 10 tripled-fast bench-quality $B --methods random,tripled --out runs/val/allinone_cross
nice -n 10 tripled-fast bench-quality $B --methods random,tripled --set select.cross_task=false --adopt runs/val/allinone_cross --out runs/val/allinone_nocross
