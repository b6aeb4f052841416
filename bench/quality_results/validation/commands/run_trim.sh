#!/bin/bash
# 2026-12-02 (fourth session): select.coverage_trim on the (c) and (a) validation splits.
# usage: run_trim.sh c|a TRIM   (one process per task, 1 thread each)
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
task=$1; trim=$2; tag=${trim/./}
if [ "$task" = c ] && [ -n "$trim" ]; then
  COMMON="../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 --holdout 0.2 --patch 48 --stride 48 --steps 400 --batch 16"
  nice -n 10 tripled-fast bench-quality $COMMON --budgets 0.0025 --seeds 0,1,2,3,4,5,6,7 --methods tripled --set select.coverage_trim=$trim --out runs/val/sr4_trim$tag
  nice -n 10 tripled-fast bench-quality $COMMON --budgets 0.005,0.01 --seeds 0,1,2,3 --methods tripled --set select.coverage_trim=$trim --out runs/val/sr4_trim$tag
elif [ "$task" = a ] && [ -n "$trim" ]; then
  COMMON="../shared/data/denoise/Train400 --degrade noise:sigma=25 --holdout 0.1 --steps 800"
  nice -n 10 tripled-fast bench-quality $COMMON --budgets 0.001,0.0025,0.005 --seeds 0,1,2,3 --methods tripled --set select.coverage_trim=$trim --out runs/val/dn_trim$tag
fi
# second call, after the first two trims: trim 0.5 at the two smallest validation budgets, and
# the default (trim 0) at (a) 0.5 %, which had no cw 0.1 record
#   run_trim.sh c5   and   run_trim.sh a5
if [ "$task" = c5 ]; then
  COMMON="../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 --holdout 0.2 --patch 48 --stride 48 --steps 400 --batch 16"
  nice -n 10 tripled-fast bench-quality $COMMON --budgets 0.0025,0.005 --seeds 0,1,2,3 --methods tripled --set select.coverage_trim=0.5 --out runs/val/sr4_trim05
elif [ "$task" = a5 ]; then
  COMMON="../shared/data/denoise/Train400 --degrade noise:sigma=25 --holdout 0.1 --steps 800"
  nice -n 10 tripled-fast bench-quality $COMMON --budgets 0.005 --seeds 0,1,2,3 --methods tripled --out runs/val/dn_trim0
  nice -n 10 tripled-fast bench-quality $COMMON --budgets 0.001,0.0025 --seeds 0,1,2,3 --methods tripled --set select.coverage_trim=0.5 --out runs/val/dn_trim05
fi
