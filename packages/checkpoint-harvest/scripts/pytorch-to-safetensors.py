"""Converts PyTorch `torch.save` state dicts (.pt / .pth) to safetensors, keeping every key, dtype and shape.

    python pytorch-to-safetensors.py IN.pt OUT.safetensors [IN2.pt OUT2.safetensors ...]

A file holding {"state_dict": {...}} (a common training-script layout) is unwrapped. Only tensors are read
(`weights_only=True`): a pickle cannot run code here.
"""
import sys

import torch
from safetensors.torch import save_file


def state_dict_of(obj, path):
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        sys.exit(f"{path}: not a state dict of tensors (save model.state_dict(), not the model)")
    # safetensors refuses shared or strided storage; contiguous copies keep the values exactly.
    return {k: v.detach().contiguous().clone() for k, v in obj.items()}


args = sys.argv[1:]
if len(args) == 0 or len(args) % 2 != 0:
    sys.exit(__doc__)
for src, dst in zip(args[0::2], args[1::2]):
    save_file(state_dict_of(torch.load(src, map_location="cpu", weights_only=True), src), dst)
