"""Trains a small model zoo on MNIST and saves each checkpoint with safetensors.

    python train_zoo.py DATA_DIR ZOO_DIR [--seeds 2] [--epochs 4] [--checkpoints 5]

Per seed: `--epochs` epochs of Adam, then one more epoch at a low learning rate during which `--checkpoints`
checkpoints are saved (as the RPG method collects them), named seed<s>-ckpt<k>.safetensors.
"""
import argparse
import os

import torch
from safetensors.torch import load_file, save_file

from model import make_model

p = argparse.ArgumentParser()
p.add_argument("data")
p.add_argument("zoo")
p.add_argument("--seeds", type=int, default=2)
p.add_argument("--epochs", type=int, default=4)
p.add_argument("--checkpoints", type=int, default=5)
args = p.parse_args()

train = load_file(os.path.join(args.data, "mnist-train.safetensors"))
x, y = train["x"], train["y"]
os.makedirs(args.zoo, exist_ok=True)
torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))

for seed in range(args.seeds):
    torch.manual_seed(seed)
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = (len(x) + 63) // 64

    def epoch(save_every=None):
        model.train()
        order = torch.randperm(len(x))
        saved = 0
        for b in range(batches):
            idx = order[b * 64 : (b + 1) * 64]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if save_every and (b + 1) % save_every == 0 and saved < args.checkpoints:
                name = os.path.join(args.zoo, f"seed{seed}-ckpt{saved}.safetensors")
                save_file({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}, name)
                saved += 1
        return loss.item()

    for e in range(args.epochs):
        loss = epoch()
    for g in opt.param_groups:
        g["lr"] = 3e-4
    epoch(save_every=batches // args.checkpoints)
    print(f"seed {seed}: {args.epochs + 1} epochs, last loss {loss:.3f}, {args.checkpoints} checkpoints")
