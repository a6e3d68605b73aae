#!/usr/bin/env bash
# The in-process throughput suite on a GPU; writes its figures as JSON to the given path.
#   benchmarks/gpu_inprocess.sh OUT.json
# Needs only this repository and its .venv (with a CUDA build of torch); no database, no
# broker. Refuses to run without CUDA; bounded to under four minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: benchmarks/gpu_inprocess.sh OUT.json}"
py=.venv/bin/python
[ -x "$py" ] || { echo "no $py: create the .venv first (make setup)" >&2; exit 2; }
"$py" -c 'import torch; print("torch", torch.__version__, "| cuda available:", torch.cuda.is_available())'
exec timeout --signal=INT --kill-after=10 230 "$py" -m benchmarks.gpu_inprocess "$out" --seconds 200
