#!/bin/bash
# 2026-12-06 (seventh session): the other two leave-one-photo-out folds of the (d) validation
# split, so that every photo of the four-photo pool is held out once. data_seed 1 holds out
# cam1_09, data_seed 2 holds out cam1_01 (f0: cam1_02 and f3: cam2_09 ran on 2026-12-02 with
# run_dval.sh). random and the current default (select.image_cap on) only, 16 seeds each, the
# same seeds, budgets and setting as f0 / f3. Decided before any of these runs: the (d)
# validation verdict reports each fold and the mean over the four folds.
# (two processes, 1 thread each)
D=$(dirname "$0")
bash "$D/run_dval.sh" 1 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15 pair > runs/dval_f1.log 2>&1 &
bash "$D/run_dval.sh" 2 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15 pair > runs/dval_f2.log 2>&1 &
wait
