#!/bin/bash
# 2026-12-02 (third session): seeds 3-7 for random and TripleD at the two smallest budgets of the
# (b) NAFNet test grid, the same rule as run_seeds47.sh for (a), (c), (d): 8 seeds for both
# methods in the cells the second target is judged on. Two processes, one per budget.
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1
DEG="--degrade noise:sigma=25 --degrade blur:sigma=1.5 --degrade jpeg:quality=20 --degrade lowlight --degrade haze --degrade rain"
NAF=(--set train.arch=nafnet --set 'train.arch_kwargs={width: 8, enc_blocks: [1, 1, 1], middle_blocks: 1, dec_blocks: [1, 1, 1]}')
T="../shared/data/pool/Urban100_HR_first50 $DEG --test ../shared/data/denoise/CBSD68 --max-test-images 10 --patch 64 --stride 64 --seeds 3,4,5,6,7 --steps 400 --batch 16 --methods random,tripled --out runs/quality/allinone_naf"
nice -n 10 tripled-fast bench-quality $T "${NAF[@]}" --budgets 0.0025 > /tmp/bs_1.log 2>&1 &
nice -n 10 tripled-fast bench-quality $T "${NAF[@]}" --budgets 0.005 > /tmp/bs_2.log 2>&1 &
wait
