#!/usr/bin/env bash
# Create .venv at the repository root and install the project into it.
# torch comes first, as the build that fits this machine: the CPU build where no CUDA GPU is visible (this
# project's machines hold that wheel where pip looks; elsewhere set TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu,
# since PyPI's Linux torch is a CUDA build of several GB), then the project and its test tools at the versions in
# requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
if .venv/bin/python -c "import torch" 2>/dev/null; then
    echo "torch $(.venv/bin/python -c 'import torch; print(torch.__version__)') already installed"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "CUDA GPU visible: installing torch $TORCH_VERSION (CUDA build)"
    .venv/bin/python -m pip install --quiet "torch==$TORCH_VERSION"
else
    echo "no CUDA GPU visible: installing torch $TORCH_VERSION (CPU build)"
    .venv/bin/python -m pip install --quiet "torch==$TORCH_VERSION" ${TORCH_CPU_INDEX:+--index-url "$TORCH_CPU_INDEX"}
fi
# the tested versions (requirements.lock: constraints, so nothing else is installed because it is listed there)
.venv/bin/python -m pip install --quiet -c requirements.lock -e ".[dev]"
# A path-configuration file (.pth, run by Python at start-up) written into the environment: it hides Dagster's
# notice that its own `dagster` CLI commands are superseded by `dg` (printed on every call), and only that message.
# Planned replacement: move the README, CI and tests to `dg launch --job ...`, `dg check defs` and `dg dev`
# (package dagster-dg-cli) with dg's project layout, then drop this step.
cat > "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/elcrec_dagster_cli_supersession.pth" <<'PTH'
import warnings; warnings.filterwarnings("ignore", message=r"Function `\w+` is superseded and its usage is discouraged\. Use 'dg ")
PTH
# A Dagster instance folder with the project's settings (telemetry off: nothing leaves the machine).
mkdir -p .dagster_home
if [ ! -f .dagster_home/dagster.yaml ]; then
    cp elcrec_pipeline/dagster.yaml .dagster_home/dagster.yaml
elif ! cmp -s elcrec_pipeline/dagster.yaml .dagster_home/dagster.yaml; then
    echo "note: .dagster_home/dagster.yaml differs from the project's elcrec_pipeline/dagster.yaml (kept as it is; compare them)"
    .venv/bin/python -m elcrec_pipeline.instance_settings .dagster_home/dagster.yaml  # what an earlier version's lacks
fi
echo "installed into $(pwd)/.venv; DAGSTER_HOME=$(pwd)/.dagster_home"
