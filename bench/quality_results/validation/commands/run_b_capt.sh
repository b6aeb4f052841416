#!/bin/bash
# 2026-12-06 (sixth session): select.image_cap_scope=task (the cap as a share of each task's quota;
# the new default) on the (b) validation split with the NAFNet - the cells of run_b_cap.sh, seeds 0-3.
# usage: run_b_capt.sh SEEDS   (one process per seed list, 1 thread each)
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1
DEG="--degrade noise:sigma=25 --degrade blur:sigma=1.5 --degrade jpeg:quality=20 --degrade lowlight --degrade haze --degrade rain"
NAF=(--set train.arch=nafnet --set 'train.arch_kwargs={width: 8, enc_blocks: [1, 1, 1], middle_blocks: 1, dec_blocks: [1, 1, 1]}')
V="../shared/data/pool/Urban100_HR_first50 $DEG --holdout 0.2 --patch 64 --stride 64 --budgets 0.005,0.01 --seeds $1 --steps 400 --batch 16"
nice -n 10 tripled-fast bench-quality $V "${NAF[@]}" --methods tripled --set select.image_cap=true --set select.image_cap_scope=task --out runs/val/allinone_naf_capt
