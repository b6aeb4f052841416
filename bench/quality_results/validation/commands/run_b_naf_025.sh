#!/bin/bash
# 2026-12-02 (third session): the 0.25 % column of the (b) NAFNet test grid (random and TripleD were
# both within 0.1 dB of full data at 0.5 %, so the grid could not resolve the first target).
# Two processes, one per pair of methods, same --out.
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1
DEG="--degrade noise:sigma=25 --degrade blur:sigma=1.5 --degrade jpeg:quality=20 --degrade lowlight --degrade haze --degrade rain"
NAF=(--set train.arch=nafnet --set 'train.arch_kwargs={width: 8, enc_blocks: [1, 1, 1], middle_blocks: 1, dec_blocks: [1, 1, 1]}')
T="../shared/data/pool/Urban100_HR_first50 $DEG --test ../shared/data/denoise/CBSD68 --max-test-images 10 --patch 64 --stride 64 --budgets 0.0025 --seeds 0,1,2 --steps 400 --batch 16 --out runs/quality/allinone_naf"
nice -n 10 tripled-fast bench-quality $T "${NAF[@]}" --methods random,tripled > /tmp/b025_1.log 2>&1 &
nice -n 10 tripled-fast bench-quality $T "${NAF[@]}" --methods kmeans,kcenter > /tmp/b025_2.log 2>&1 &
wait
