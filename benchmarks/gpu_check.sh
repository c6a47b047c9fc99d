#!/usr/bin/env bash
# The checks to run where a GPU is lent (BENCHMARKS.md "GPU"), in the order of what they are worth, each bounded:
#   1. tests/train/test_accelerator.py: training, resume, ranking, serving and intents on CUDA against the CPU;
#   2. the training, model, evaluation, serving and intent tests with device auto, which is CUDA there;
#   3. benchmarks/gpu_check.py: epoch time and sequences/s on Beauty, paper's preset, bf16 autocast, then fp32;
#   4. benchmarks/valid_sweep.py: a validation-only sweep of ELCRec (ours) against its ablation and a variant,
#      several seeds, on Beauty and Sports (issue #11; no test figure is read or printed).
# Usage: benchmarks/gpu_check.sh OUT_DIR [DATA_DIR (default ../shared/data)]; PYTHON (default python3) runs it.
# Each step's output goes to OUT_DIR; a step that fails or runs out of its time does not stop the next. The
# steps' limits add up to 570 s, inside the device tool's 600 s a call.
set -u
out=${1:?usage: benchmarks/gpu_check.sh OUT_DIR [DATA_DIR]}
data=${2:-../shared/data}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if ! "$py" -c "import duckdb" 2>/dev/null; then
    # a GPU machine without DuckDB (its wheel may not fit what travels there): a stand-in lets elcrec_core import;
    # what reads through DuckDB then fails (some tests of step 2), the line format read by steps 3-4 does not
    stub=$(mktemp -d)
    mkdir "$stub/duckdb"
    cat > "$stub/duckdb/__init__.py" <<'PY'
"""Stand-in for duckdb (benchmarks/gpu_check.sh): importing works, using it fails."""


class _Any(type):
    def __getattr__(cls, name):
        return cls


Error = _Any("Error", (Exception,), {})


def __getattr__(name):
    return _Any(name, (Exception,), {})
PY
    export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$stub"
    echo "duckdb is not installed: a stand-in module in $stub"
fi

step() {  # step NAME SECONDS COMMAND...: run COMMAND for at most SECONDS, its output in OUT_DIR/NAME.log
    local name=$1 seconds=$2
    shift 2
    echo "== $name ($(date -u +%H:%M:%S), at most ${seconds}s): $*"
    timeout "$seconds" "$@" > "$out/$name.log" 2>&1
    echo "== $name: exit $? ($(date -u +%H:%M:%S))"
    tail -n 25 "$out/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
step accelerator_tests 90 "$py" -m pytest -q -p no:cacheprovider tests/train/test_accelerator.py
# -v: each result as it comes (a run stopped at its limit prints no summary); the failures' summary at the end.
# pytest-xdist and pytest-timeout where installed (the GPU machine's Python has them; the project's venv does not)
parallel=()
if "$py" -c "import xdist, pytest_timeout" 2>/dev/null; then
    parallel=(-n 8 --timeout 60)
fi
step core_tests 120 "$py" -m pytest -v --tb=line -rfE -p no:cacheprovider "${parallel[@]}" \
    --continue-on-collection-errors tests/train tests/model tests/evaluate tests/serve tests/intents
# each failure's line (--tb=line) once, with how many tests it failed: the cause of every failure reaches the output
grep -E '^/.+:[0-9]+: ' "$out/core_tests.log" | sed "s|$PWD/||" | sort | uniq -c | sort -rn | head -n 40
step gpu_check_bf16 80 "$py" benchmarks/gpu_check.py --data "$data/Beauty.txt" --epochs 3 \
    --json "$out/gpu_check_bf16.json"
step valid_sweep 230 "$py" benchmarks/valid_sweep.py --data beauty sports --shared "$data" --seeds 2024 1 2 \
    --variant control --variant sasrec_ce --variant intents256:model.n_intents=256 --jobs 6 --threads 2 \
    --out "${SWEEP_DIR:-runs/valid_sweep}" --json "$out/valid_sweep.json"
step gpu_check_fp32 50 "$py" benchmarks/gpu_check.py --data "$data/Beauty.txt" --epochs 2 --precision fp32 \
    --json "$out/gpu_check_fp32.json"
