# Sourced by run_share_test.sh and run_share_grid.sh: the four test grids at the CPU settings, run
# on this machine into runs/quality/<folder> (the (a) folder is the seventeenth session's). Defines
# Q (the harness call), S (pool_share 0.8), NAF (array) and grid_a / grid_c / grid_d / grid_b
# BUDGETS (print each grid's arguments with those comma-separated budgets).
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
Q="nice -n 10 tripled-fast bench-quality"
S="--set select.pool_share=0.8"
DEG="--degrade noise:sigma=25 --degrade blur:sigma=1.5 --degrade jpeg:quality=20 --degrade lowlight --degrade haze --degrade rain"
NAF=(--set train.arch=nafnet --set 'train.arch_kwargs={width: 8, enc_blocks: [1, 1, 1], middle_blocks: 1, dec_blocks: [1, 1, 1]}')
grid_a() { echo "../shared/data/denoise/Train400 --degrade noise:sigma=25 --test ../shared/data/denoise/Set12
   --test ../shared/data/denoise/BSD68 --steps 800 --budgets $1 --out runs/quality/denoise_herding"; }
grid_c() { echo "../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4
   --test ../shared/data/sr/Set5/HR:../shared/data/sr/Set5/LR_bicubic_X4:{}x4
   --test ../shared/data/sr/Set14_x4/HR:../shared/data/sr/Set14_x4/LR:sorted
   --patch 48 --stride 48 --steps 400 --batch 16 --budgets $1 --out runs/quality/sr4_share"; }
grid_d() { echo "../shared/data/realsr/HR --lq ../shared/data/realsr/LR --holdout 0.34 --patch 48 --stride 48
   --steps 400 --batch 16 --budgets $1 --out runs/quality/realsr_share"; }
grid_b() { echo "../shared/data/pool/Urban100_HR_first50 $DEG --test ../shared/data/denoise/CBSD68 --max-test-images 10
   --patch 64 --stride 64 --steps 400 --batch 16 --budgets $1 --out runs/quality/allinone_naf_share"; }
