#!/usr/bin/env bash
# The CUDA check, prepared to run on a GPU machine in under 10 minutes:
#   1. the test suite's CUDA tests (on a machine without CUDA they are skipped);
#   2. the CPU/CUDA grid: N in 250,1e4,1e5,1e6 x D in 3,64,512 x float64,float32 for the
#      floor, analytic (numpy), torch autograd, the formula in torch, torch.func, torch.compile
#      and JAX (where installed) on the CPU and on CUDA, plus the training runs; numeric
#      methods are left to the CPU run (they never use CUDA).
# Writes OUT/cuda.{jsonl,json,md}, OUT/cuda-time-vs-n.png and OUT/cuda-crossover.png and
# prints the table, the N where CUDA overtakes the CPU for each framework and the fraction
# of the GPU's memory bandwidth reached at the largest size.  A run whose cells were timed
# while the machine's load changed does not replace earlier OUT/cuda.* (it is written as
# OUT/cuda-contended.*) unless FORCE=1.
#
#   bash benchmarks/cuda.sh [OUT]        (OUT defaults to benchmarks/results)
#   PYTHON=/path/to/python bash benchmarks/cuda.sh "$OUT"
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${1:-benchmarks/results}
mkdir -p "$OUT"
"$PY" - <<'PYEOF'
import sys
try:
    import torch
except ImportError:
    sys.exit("cuda.sh: torch is not importable with this python; install the project (pip install -e '.[dev]') first")
if not torch.cuda.is_available():
    sys.exit(f"cuda.sh: torch {torch.__version__} sees no CUDA device (a CPU-only build, or no GPU); nothing to run")
print(f"cuda.sh: torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")
PYEOF
start=$(date +%s)
# the CUDA tests: anything marked cuda or named for it (their skips say why when they skip)
tests_rc=0
timeout 120 "$PY" -m pytest -q -rs -p no:cacheprovider -k "cuda" tests 2>&1 | tee "$OUT/cuda-tests.txt" || tests_rc=$?
# the grid; environment variables that pin OpenBLAS's kernel are dropped for the run, and
# the kernel that ran is recorded in the JSON (machine.blas[].architecture)
methods=floor,analytic,autograd,formula-torch,torch.func,torch.compile
if "$PY" -c "import jax" 2>/dev/null; then methods="$methods,jax.jit"; fi  # the optional extra gd-torch[jax]
timeout 420 env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" benchmarks/run.py --device cuda \
    --methods "$methods" \
    --min-run-time 0.2 --out "$OUT" --tag cuda ${FORCE:+--force}
echo "cuda.sh: done in $(( $(date +%s) - start )) s; results in $OUT/cuda.*"
if [ "$tests_rc" -ne 0 ]; then
    echo "cuda.sh: the CUDA tests failed (exit $tests_rc); see $OUT/cuda-tests.txt" >&2
    exit "$tests_rc"
fi
