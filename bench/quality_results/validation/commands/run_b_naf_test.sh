#!/bin/bash
# 2026-12-02 (third session): the (b) test grid with NAFNet width 8, seeds 0 and 2 (see run_b_naf.sh).
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1
DEG="--degrade noise:sigma=25 --degrade blur:sigma=1.5 --degrade jpeg:quality=20 --degrade lowlight --degrade haze --degrade rain"
NAF=(--set train.arch=nafnet --set 'train.arch_kwargs={width: 8, enc_blocks: [1, 1, 1], middle_blocks: 1, dec_blocks: [1, 1, 1]}')
T="../shared/data/pool/Urban100_HR_first50 $DEG --test ../shared/data/denoise/CBSD68 --max-test-images 10 --patch 64 --stride 64 --budgets 0.005,0.01,0.02 --steps 400 --batch 16 --methods full,random,kmeans,kcenter,tripled"
nice -n 10 tripled-fast bench-quality $T "${NAF[@]}" --seeds 0 --out runs/quality/allinone_naf
nice -n 10 tripled-fast bench-quality $T "${NAF[@]}" --seeds 2 --out runs/quality/allinone_naf
