#!/usr/bin/env bash
# The in-process throughput suite on a GPU; writes its figures as JSON to the given path.
#   benchmarks/gpu_inprocess.sh OUT.json [SECONDS]
# Needs only this repository and its .venv (with a CUDA build of torch); no database, no
# broker. Refuses to run without CUDA. A second argument bounds the parts started (seconds,
# default 200); the whole run stops 30 s after it. PYTHON names another interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: benchmarks/gpu_inprocess.sh OUT.json [SECONDS]}"
limit="${2:-200}"
py="${PYTHON:-.venv/bin/python}"
command -v "$py" >/dev/null || { echo "no $py: create the .venv first (make setup), or name a Python in PYTHON" >&2; exit 2; }
"$py" -c 'import torch; print("torch", torch.__version__, "| cuda available:", torch.cuda.is_available())'
exec timeout --signal=INT --kill-after=10 $((limit + 30)) "$py" -m benchmarks.gpu_inprocess "$out" --seconds "$limit"
