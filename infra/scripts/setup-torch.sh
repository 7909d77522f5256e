#!/usr/bin/env bash
# Installs PyTorch into the project's Python environment (infra/.cache/venv) when it is missing. Only the
# PyTorch example and the step benchmark need it; the main setup and the tests stay torch-free.
# PyPI's Linux wheel brings its NVIDIA library wheels (about 5 GB in all); it runs on CPU-only machines too.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=infra/.cache/venv
version=${TORCH_VERSION:-2.15.0}
[ -x "$venv/bin/python" ] || { echo "[torch] ERROR: $venv is missing; run bash infra/setup.sh first." >&2; exit 1; }
if "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  echo "[torch] PyTorch $("$venv/bin/python" -c 'import torch; print(torch.__version__)') is installed."
  exit 0
fi
echo "[torch] installing torch==$version into $venv (about 5 GB from PyPI, once)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "torch==$version" \
  || { echo "[torch] ERROR: pip could not install torch==$version (set TORCH_VERSION to another release)." >&2; exit 1; }
"$venv/bin/python" -c 'import torch; print("[torch] PyTorch", torch.__version__, "ready")'
