#!/bin/bash
# 2026-12-02 (third session): task (b) with a NAFNet width 8 (one block per level, three levels),
# which has image-level context (simplified channel attention = global pooling) - the 5-layer
# DnCNN cannot tell a low-light image from a dark region. Process 1: validation split
# (--holdout 0.2, as run_b_cross.sh) for the default vs task-blind selection, then test seed 1.
# Process 2 (run_b_naf_test.sh): the test grid, seeds 0 and 2.
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1
DEG="--degrade noise:sigma=25 --degrade blur:sigma=1.5 --degrade jpeg:quality=20 --degrade lowlight --degrade haze --degrade rain"
NAF=(--set train.arch=nafnet --set 'train.arch_kwargs={width: 8, enc_blocks: [1, 1, 1], middle_blocks: 1, dec_blocks: [1, 1, 1]}')
V="../shared/data/pool/Urban100_HR_first50 $DEG --holdout 0.2 --patch 64 --stride 64 --budgets 0.005,0.01 --seeds 0,1 --steps 400 --batch 16"
nice -n 10 tripled-fast bench-quality $V "${NAF[@]}" --methods random,tripled --out runs/val/allinone_naf
nice -n 10 tripled-fast bench-quality $V "${NAF[@]}" --methods tripled --set select.cross_task=false --out runs/val/allinone_naf_nocross
T="../shared/data/pool/Urban100_HR_first50 $DEG --test ../shared/data/denoise/CBSD68 --max-test-images 10 --patch 64 --stride 64 --budgets 0.005,0.01,0.02 --steps 400 --batch 16 --methods full,random,kmeans,kcenter,tripled"
nice -n 10 tripled-fast bench-quality $T "${NAF[@]}" --seeds 1 --out runs/quality/allinone_naf
