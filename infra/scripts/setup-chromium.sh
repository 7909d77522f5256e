#!/usr/bin/env bash
# Makes sure a headless Chromium is there for the evaluator's report render check (packages/evaluator,
# src/render-check.ts). Idempotent: when $RPG_CHROMIUM or chromium / chromium-browser / google-chrome on PATH
# is an executable, it does nothing. Otherwise it installs Debian's `chromium` package with apt-get (as root, or
# through sudo when that is available without a password prompt).
# Never fatal: when Chromium cannot be installed it says so and exits 0, so the rest of the setup goes on;
# the render test then fails with a message naming the missing binary.
set -uo pipefail

say() { echo "[setup-chromium] $*"; }

find_chromium() {
  if [ -n "${RPG_CHROMIUM:-}" ]; then
    if [ -x "$RPG_CHROMIUM" ] && [ -f "$RPG_CHROMIUM" ]; then
      echo "$RPG_CHROMIUM"
      return 0
    fi
    say "RPG_CHROMIUM=$RPG_CHROMIUM is not an executable file; fix or unset it (the render check uses it as given)." >&2
    return 2
  fi
  local name
  for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
  done
  return 1
}

found=$(find_chromium)
status=$?
if [ "$status" -eq 0 ]; then
  say "found $found; nothing to do."
  exit 0
fi
if [ "$status" -eq 2 ]; then
  exit 0
fi

cannot() {
  say "WARNING: could not install Chromium: $*"
  say "The report render check (packages/evaluator) will fail until a Chromium is there. Install one"
  say "(Debian: apt-get install chromium; Ubuntu: chromium-browser or Google Chrome) or set RPG_CHROMIUM=/path/to/chrome."
  exit 0
}

if ! command -v apt-get >/dev/null 2>&1; then
  cannot "apt-get is not available (not a Debian-like system)."
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
  as_root=(sudo -n)
else
  cannot "not root, and sudo is missing or needs a password (run: sudo apt-get install -y chromium)."
fi

say "installing Debian's chromium package (apt-get)"
export DEBIAN_FRONTEND=noninteractive
if ! ${as_root[@]+"${as_root[@]}"} apt-get update -qq; then
  cannot "apt-get update failed."
fi
if ! ${as_root[@]+"${as_root[@]}"} apt-get install -y -qq --no-install-recommends chromium; then
  cannot "apt-get install chromium failed (on Ubuntu the chromium package may need snap; use Google Chrome or RPG_CHROMIUM)."
fi

if found=$(find_chromium); then
  say "installed: $found ($("$found" --version 2>/dev/null | head -1))"
else
  cannot "apt-get reported success but no chromium is on PATH."
fi
