#!/bin/bash
# 2026-12-02 (third session): seeds 4-7 for random and TripleD at the two smallest budgets of the
# single-task test grids (a), (c), (d) - the cells the second target is judged on - so that those
# cells have 8 seeds for both methods. Same settings as the grids (QUALITY.md, Measured).
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1
while pgrep -f run_b_naf_test.sh >/dev/null; do sleep 10; done
C="../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 \
   --test ../shared/data/sr/Set5/HR:../shared/data/sr/Set5/LR_bicubic_X4:{}x4 \
   --test ../shared/data/sr/Set14_x4/HR:../shared/data/sr/Set14_x4/LR:sorted \
   --patch 48 --stride 48 --steps 400 --batch 16 --out runs/quality/sr4"
nice -n 10 tripled-fast bench-quality $C --methods random,tripled --budgets 0.0025,0.005 --seeds 4,5,6,7
D="../shared/data/realsr/HR --lq ../shared/data/realsr/LR --holdout 0.34 --patch 48 --stride 48 \
   --steps 400 --batch 16 --out runs/quality/realsr"
nice -n 10 tripled-fast bench-quality $D --methods random,tripled --budgets 0.005,0.01 --seeds 4,5,6,7
A="../shared/data/denoise/Train400 --degrade noise:sigma=25 --test ../shared/data/denoise/Set12 \
   --test ../shared/data/denoise/BSD68 --steps 800 --out runs/quality/denoise"
nice -n 10 tripled-fast bench-quality $A --methods random,tripled --budgets 0.001,0.0025 --seeds 4,5,6,7
