#!/usr/bin/env bash
# The PyTorch example end to end: MNIST exported from the project's data, a model zoo trained in PyTorch and saved
# as safetensors, the RPG pipeline fed with it, every model scored by eval.py (which loads it strictly).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=examples/pytorch
bash infra/scripts/setup-torch.sh
# eval.py and train_zoo.py run with the project's Python environment.
export PATH="$PWD/infra/.cache/venv/bin:$PATH"
started=$(date +%s)
[ -f "$here/data/mnist-test.safetensors" ] ||
  pnpm --silent --filter @rpg/checkpoint-harvest exec tsx ../../examples/pytorch/export-mnist.ts ../../examples/pytorch/data
[ -f "$here/zoo/seed1-ckpt4.safetensors" ] || (cd "$here" && python train_zoo.py data zoo)
pnpm --silent rpg local "$here/pytorch-zoo.json"
echo "[example] done in $(($(date +%s) - started)) s; every generated model was loaded with load_state_dict(strict=True) by eval.py"
