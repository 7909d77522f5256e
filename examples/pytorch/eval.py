"""The pipeline's evaluate.command: scores one checkpoint on the MNIST test digits.

    python eval.py CHECKPOINT.safetensors [DATA_DIR]

Loads the checkpoint into the example's module with load_state_dict(strict=True) (every key present, none
extra, every shape equal), checks that every tensor keeps its dtype, and prints one JSON object: accuracy
(a fraction), predictions and labels per test digit.
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file

from model import make_model

checkpoint = sys.argv[1]
data = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
torch.set_num_threads(1)

model = make_model()
state = load_file(checkpoint)
model.load_state_dict(state, strict=True)
expected = make_model().state_dict()
wrong = [f"{k}: {v.dtype} (the module has {expected[k].dtype})" for k, v in state.items() if v.dtype != expected[k].dtype]
if wrong:
    sys.exit(f"{checkpoint}: dtypes differ from the module's: {', '.join(wrong)}")

test = load_file(os.path.join(data, "mnist-test.safetensors"))
model.eval()
with torch.no_grad():
    predictions = model(test["x"]).argmax(dim=1)
labels = test["y"]
print(json.dumps({
    "accuracy": (predictions == labels).float().mean().item(),
    "predictions": predictions.tolist(),
    "labels": labels.tolist(),
    "dataset": "mnist-10k-seed0-test2000",
}))
