# Sourced by run_strata_val.sh, run_herding_val.sh and later plans: the four validation splits at
# the CPU settings, each with its run folder runs/val/strata_<x> (the name comes from the first
# plan that used them). Defines Q (the harness call), A, C, B (argument strings), NAF (array),
# d FOLD (prints (d)'s arguments for fold data_seed FOLD), after linking (d)'s four photos, and
# share_a / share_c BUDGETS (run_share_val.sh's unseen (a) and (c) splits).
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
Q="nice -n 10 tripled-fast bench-quality"
mkdir -p runs/realsr_val/HR runs/realsr_val/LR
for f in cam1_01 cam1_02 cam1_09 cam2_09; do
  ln -sf "$(realpath ../shared/data/realsr/HR/$f.png)" runs/realsr_val/HR/$f.png
  ln -sf "$(realpath ../shared/data/realsr/LR/$f.png)" runs/realsr_val/LR/$f.png
done
A="../shared/data/denoise/Train400 --degrade noise:sigma=25 --holdout 0.1 --steps 800 --out runs/val/strata_a"
C="../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 --holdout 0.2
   --patch 48 --stride 48 --steps 400 --batch 16 --out runs/val/strata_c"
d() { echo "runs/realsr_val/HR --lq runs/realsr_val/LR --holdout 0.25 --set data_seed=$1 --patch 48 --stride 48
   --steps 400 --batch 16 --budgets 0.005,0.01 --out runs/val/strata_d$1"; }
DEG="--degrade noise:sigma=25 --degrade blur:sigma=1.5 --degrade jpeg:quality=20 --degrade lowlight --degrade haze --degrade rain"
NAF=(--set train.arch=nafnet --set 'train.arch_kwargs={width: 8, enc_blocks: [1, 1, 1], middle_blocks: 1, dec_blocks: [1, 1, 1]}')
B="../shared/data/pool/Urban100_HR_first50 $DEG --holdout 0.2 --patch 64 --stride 64 --steps 400 --batch 16
   --budgets 0.005,0.01 --out runs/val/strata_b"
# the unseen splits of run_share_val.sh (its (a) and (c) folders), with BUDGETS
share_a() { echo "../shared/data/denoise/Train400 --degrade noise:sigma=25 --holdout 0.1 --set data_seed=3 --steps 800
   --budgets $1 --out runs/val/share_a"; }
share_c() { echo "../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 --holdout 0.2
   --set data_seed=1 --patch 48 --stride 48 --steps 400 --batch 16 --budgets $1 --out runs/val/share_c"; }
