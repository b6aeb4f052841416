#!/bin/bash
# 2026-12-07 (fifteenth session), planned after p1 of run_a_wide.sh had shown, on the BSD68 test
# set, TripleD below random at 0.1 and 0.25 % with the larger network (paired -0.08 / -0.03 dB,
# seeds 0-3; on Set12 above, +0.07 / +0.06): the same network and length on the (a) validation
# split (Train400 --holdout 0.1, 360 pool photos, 23,040 patches; 0.1 / 0.25 % = 23 / 58 patches),
# random and the current default, seeds 0-3. It asks whether the issue's "at least as good as
# random at every budget" holds on validation at this capacity. A diagnostic: no default changes
# this session whatever it shows (a change would need every test grid re-run). Starts after
# run_a_wide.sh's phases, only if it can start by 06:50 UTC.
# usage: run_a_wide_val.sh a|b|report   (two processes, 1 thread each)
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
A=(../shared/data/denoise/Train400 --degrade noise:sigma=25 --holdout 0.1 --steps 1600
   --out runs/val/dn_w32d10 --set 'train.arch_kwargs={depth: 10, width: 32, bn: false}'
   --methods random,tripled --budgets 0.001,0.0025)
case $1 in
  a) nice -n 10 tripled-fast bench-quality "${A[@]}" --seeds 0,1 ;;
  b) sleep 120; nice -n 10 tripled-fast bench-quality "${A[@]}" --seeds 2,3 ;;
  report) tripled-fast bench-quality "${A[@]}" --seeds 0,1,2,3 --report-only ;;
esac
