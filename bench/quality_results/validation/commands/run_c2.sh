#!/bin/bash
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
while kill -0 17194 2>/dev/null; do sleep 5; done
COMMON="../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 --holdout 0.2 --patch 48 --stride 48 --budgets 0.005,0.01 --seeds 0,1,2,3 --steps 400 --batch 16"
nice -n 10 tripled-fast bench-quality $COMMON --methods random,kcenter,tripled --out /tmp/qv/sr4_default
for v in "cl1_cw0:select.clusters=1 select.complexity_weight=0.0" "cl1_cw03:select.clusters=1 select.complexity_weight=0.3" "cl1_cw01:select.clusters=1 select.complexity_weight=0.1"; do
  name=${v%%:*}; sets=""; for kv in ${v#*:}; do sets="$sets --set $kv"; done
  nice -n 10 tripled-fast bench-quality $COMMON --methods tripled $sets --out /tmp/qv/sr4_$name
done
