#!/bin/bash
# 2026-12-02 (fifth session): select.image_cap=true on the (b) validation split with the NAFNet
# (the same cells as run_b_naf.sh; the scan cache was copied from runs/val/allinone_naf). Run twice:
# first when the cap counted image ids (records moved to allinone_naf_cap_pairs), then GT files.
# usage: run_b_cap.sh SEED   (one process per seed, 1 thread each)
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1
DEG="--degrade noise:sigma=25 --degrade blur:sigma=1.5 --degrade jpeg:quality=20 --degrade lowlight --degrade haze --degrade rain"
NAF=(--set train.arch=nafnet --set 'train.arch_kwargs={width: 8, enc_blocks: [1, 1, 1], middle_blocks: 1, dec_blocks: [1, 1, 1]}')
V="../shared/data/pool/Urban100_HR_first50 $DEG --holdout 0.2 --patch 64 --stride 64 --budgets 0.005,0.01 --seeds $1 --steps 400 --batch 16"
[ "$1" != base ] && nice -n 10 tripled-fast bench-quality $V "${NAF[@]}" --methods tripled --set select.image_cap=true --out runs/val/allinone_naf_cap
# second call (same session): seeds 2 and 3 for the cap, the default and random on the same split,
#   run_b_cap.sh 2,3   and   run_b_cap.sh base   (when the cap process finished, a second process ran
#   base's last cells, --budgets 0.01 --seeds 3 --methods tripled,random, to use both cores)
if [ "$1" = base ]; then
  V="../shared/data/pool/Urban100_HR_first50 $DEG --holdout 0.2 --patch 64 --stride 64 --budgets 0.005,0.01 --seeds 2,3 --steps 400 --batch 16"
  nice -n 10 tripled-fast bench-quality $V "${NAF[@]}" --methods random,tripled --out runs/val/allinone_naf
fi
