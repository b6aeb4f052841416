#!/bin/bash
# 2026-12-02 (fifth session): a validation split for (d) real SR. The (d) test grid trains on the
# four RealSR pairs its --holdout 0.34 keeps (cam1_01, cam1_02, cam1_09, cam2_09) and tests on
# cam2_02 / cam2_08; this split uses only those four: a folder of links to them, --holdout 0.25
# holds one out. Two folds: data_seed 0 holds out cam1_02, data_seed 3 cam2_09 (the hash runs on
# the folder name, so the links' folder must be called realsr_val). Same network, patches and
# steps as the (d) test grid.
# usage: run_dval.sh FOLD(0|3) SEEDS [VARIANT(default|lq|pair|cq|cap)]  (pair: random and tripled only;
#   cq: tripled with select.quotas=clusters, the previous default's quotas, and the kmeans baseline;
#   cap: tripled with select.image_cap=true)   (two processes, 1 thread each)
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mkdir -p runs/realsr_val/HR runs/realsr_val/LR
for f in cam1_01 cam1_02 cam1_09 cam2_09; do
  ln -sf "$(realpath ../shared/data/realsr/HR/$f.png)" runs/realsr_val/HR/$f.png
  ln -sf "$(realpath ../shared/data/realsr/LR/$f.png)" runs/realsr_val/LR/$f.png
done
V="runs/realsr_val/HR --lq runs/realsr_val/LR --holdout 0.25 --set data_seed=$1 --patch 48 --stride 48 \
   --steps 400 --batch 16 --budgets 0.005,0.01"
case "${3:-default}" in
  default) nice -n 10 tripled-fast bench-quality $V --methods random,kcenter,tripled --seeds $2 --out runs/val/rsr_f$1 ;;
  lq)      nice -n 10 tripled-fast bench-quality $V --methods kcenter,tripled --set features.on=lq --seeds $2 --out runs/val/rsr_f$1_lq ;;
  pair)    nice -n 10 tripled-fast bench-quality $V --methods random,tripled --seeds $2 --out runs/val/rsr_f$1 ;;
  cq)      nice -n 10 tripled-fast bench-quality $V --methods kmeans,tripled --set select.quotas=clusters --seeds $2 --out runs/val/rsr_f$1_cq ;;
  cap)     nice -n 10 tripled-fast bench-quality $V --methods tripled --set select.image_cap=true --seeds $2 --out runs/val/rsr_f$1_cap ;;
esac
