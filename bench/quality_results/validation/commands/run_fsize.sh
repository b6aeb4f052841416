#!/bin/bash
# 2026-12-06 (seventh session): the feature input side. The CPU setting embeds every patch at
# 64 px (features.input_size=64, the harness default); the GPU setting in bench/QUALITY.md says
# input_size=null (the backbone's default, 224 for efficientnet_lite0), never measured. TripleD
# (current default otherwise) at input_size=null on the validation splits, against the default's
# records of the same seeds: (d) all four folds, seeds 0-7, 0.5 / 1 %; (c) BSD100 holdout,
# seeds 0-7, 0.25 / 0.5 %; (a) Train400 holdout, seeds 0-3, 0.1 / 0.25 %.
# usage: run_fsize.sh 1|2   (two processes on the two cores, 1 thread each)
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
Q="nice -n 10 tripled-fast bench-quality --methods tripled --set features.input_size=null"
S8=0,1,2,3,4,5,6,7
dval() {  # fold: the (d) validation split of run_dval.sh
  $Q runs/realsr_val/HR --lq runs/realsr_val/LR --holdout 0.25 --set data_seed=$1 --patch 48 --stride 48 \
     --steps 400 --batch 16 --budgets 0.005,0.01 --seeds $S8 --out runs/val/rsr_f$1_fs224
}
case $1 in
  1) dval 0; dval 1
     $Q ../shared/data/denoise/Train400 --degrade noise:sigma=25 --holdout 0.1 --budgets 0.001,0.0025 \
        --seeds 0,1,2,3 --steps 800 --out runs/val/dn_fs224 ;;
  2) dval 2; dval 3
     $Q ../shared/data/sr/BSD100_x4/HR --lq ../shared/data/sr/BSD100_x4/LR --lq-tmpl sorted --scale 4 \
        --holdout 0.2 --patch 48 --stride 48 --budgets 0.0025,0.005 --seeds $S8 --steps 400 --batch 16 \
        --out runs/val/sr4_fs224 ;;
esac
