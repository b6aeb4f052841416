#!/bin/bash
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
while kill -0 17733 2>/dev/null; do sleep 5; done
COMMON="../shared/data/denoise/Train400 --degrade noise:sigma=25 --holdout 0.1 --budgets 0.001,0.0025 --seeds 0,1,2,3 --steps 800"
nice -n 10 tripled-fast bench-quality $COMMON --methods random,kcenter,tripled --out /tmp/qv/dn_default
for v in "cl1_cw03:select.clusters=1 select.complexity_weight=0.3" "cl1_cw01:select.clusters=1 select.complexity_weight=0.1" "cl1_cw0:select.clusters=1 select.complexity_weight=0.0"; do
  name=${v%%:*}; sets=""; for kv in ${v#*:}; do sets="$sets --set $kv"; done
  nice -n 10 tripled-fast bench-quality $COMMON --methods tripled $sets --out /tmp/qv/dn_$name
done
