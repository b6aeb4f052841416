# Shared setup of the (b) scripts from the ninth session on (run_b1600.sh, run_b_align_lq.sh), the
# same values as the earlier (b) scripts spell out: the repo root, the venv, one thread, the six
# degradations of the all-in-one pool and the NAFNet width 8; Q runs the harness at low priority.
# usage (in a script): . "$(dirname "$0")/b_naf_env.sh"
cd /work/main && . /root/venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
DEG="--degrade noise:sigma=25 --degrade blur:sigma=1.5 --degrade jpeg:quality=20 --degrade lowlight --degrade haze --degrade rain"
NAF=(--set train.arch=nafnet --set 'train.arch_kwargs={width: 8, enc_blocks: [1, 1, 1], middle_blocks: 1, dec_blocks: [1, 1, 1]}')
Q="nice -n 10 tripled-fast bench-quality"
