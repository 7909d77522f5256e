"""One RPG generator training step in PyTorch, the reference for `pnpm bench:step`.

The same step as `trainGenerator`: pick `batch` checkpoints, run the prototype model (learnable positions +
constant + permutation-state embedding, then the sequence model) once per distinct state, gather `diffusion`
(token, prototype) pairs, noise them at random steps, and minimise the masked v- (or ε-) MSE of the conditioned
1D-conv UNet (per-conv condition Linear(d→k) added and step MLP multiplied before each conv, BatchNorm + ELU,
mirrored skips) with AdamW under a cosine learning rate, then update the weight EMA. Written the way a PyTorch
user would (nn.LSTM, scaled_dot_product_attention, torch.optim.AdamW with its default foreach path).

Prints one JSON line: {"model", "stepMs": [...], "threads", "torch"}; the first `warmup` steps are not timed. With
--parts, {"model", "partsMs"}: the prototype's and the decoder's forward + backward and AdamW + EMA, each alone.
"""

import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class GatedMlp(nn.Module):
    def __init__(self, layers, d):
        super().__init__()
        self.gate = nn.ModuleList(nn.Linear(d, 2 * d) for _ in range(layers))
        self.up = nn.ModuleList(nn.Linear(d, 2 * d) for _ in range(layers))
        self.down = nn.ModuleList(nn.Linear(2 * d, d) for _ in range(layers))

    def forward(self, x):
        for g, u, o in zip(self.gate, self.up, self.down):
            x = x + o(F.silu(g(x)) * u(x))
        return x


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.out(a.transpose(1, 2).reshape(b, n, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class Transformer(nn.Module):
    def __init__(self, layers, d, heads):
        super().__init__()
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)

    def forward(self, x):
        for blk in self.blocks:
            x = blk(x)
        return self.ln_f(x)


class Lstm(nn.Module):
    def __init__(self, layers, d):
        super().__init__()
        self.lstm = nn.LSTM(d, d, num_layers=layers, batch_first=True)

    def forward(self, x):
        return self.lstm(x)[0]


class Prototype(nn.Module):
    def __init__(self, model, tokens, d, layers, states, heads):
        super().__init__()
        self.position = nn.Parameter(torch.randn(tokens, d) * math.sqrt(0.5))
        self.constant = nn.Parameter(torch.zeros(d))
        self.state = nn.Parameter(torch.full((states, d), 1 / d))
        if model == "lstm":
            self.seq = Lstm(layers, d)
        elif model == "none":
            self.seq = GatedMlp(layers, d)
        else:  # transformer (and the stand-in for Mamba2, which has no PyTorch CPU kernel)
            self.seq = Transformer(layers, d, heads)

    def forward(self, states):
        x = (self.position + self.constant).unsqueeze(0) + self.state[states].unsqueeze(1)
        return self.seq(x)


def step_embedding(t, size=256):
    half = size // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float().unsqueeze(1) * freqs
    return torch.cat([torch.cos(angles), torch.sin(angles)], 1)


class Decoder(nn.Module):
    def __init__(self, k, d, channels, kernel):
        super().__init__()
        n = len(channels) - 1
        self.k, self.n = k, n
        self.cond = nn.Linear(d, n * k)
        self.fc1 = nn.Linear(256, n * k)
        bound = 1 / math.sqrt(k)
        self.fc2_w = nn.Parameter(torch.empty(n, k, k).uniform_(-bound, bound))
        self.fc2_b = nn.Parameter(torch.empty(n, 1, k).uniform_(-bound, bound))
        self.convs = nn.ModuleList(
            nn.Conv1d(channels[i], channels[i + 1], kernel, padding=kernel // 2, bias=i == n - 1)
            for i in range(n)
        )
        self.bns = nn.ModuleList(nn.BatchNorm1d(channels[i + 1]) for i in range(n - 1))

    def forward(self, xt, t, proto):
        m, n, k = xt.shape[0], self.n, self.k
        conds = self.cond(proto).view(m, n, 1, k)
        h = F.silu(self.fc1(step_embedding(t))).view(m, n, k).transpose(0, 1)
        times = (torch.bmm(h, self.fc2_w) + self.fc2_b).transpose(0, 1).unsqueeze(2)  # [m, n, 1, k]
        x = xt.unsqueeze(1)
        skips = {}
        for i, conv in enumerate(self.convs):
            if i in skips:
                x = x + skips.pop(i)
            x = conv((x + conds[:, i]) * times[:, i])
            if i < n - 1:
                x = F.elu(self.bns[i](x))
            if i < n / 2 - 1:
                skips[n - 1 - i] = x
        return x.squeeze(1)


def time_parts(a, proto_model, decoder, opt, ema, params):
    """Median ms of each part of the step alone, `a.steps` runs after `a.warmup`: what step-profile.ts times of ours."""
    dev = next(decoder.parameters()).device

    def median_ms(fn):
        for _ in range(a.warmup):
            fn()
        times = []
        for _ in range(a.steps):
            t0 = time.perf_counter()
            fn()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append((time.perf_counter() - t0) * 1000)
        return round(float(np.median(times)), 1)

    states = torch.arange(a.states, device=dev)
    xt = torch.randn(a.diffusion, a.token_size, device=dev)
    t = torch.randint(0, 1000, (a.diffusion,), device=dev)
    proto = torch.randn(a.diffusion, a.d, device=dev)

    def backward(loss_fn):
        opt.zero_grad(set_to_none=True)  # as the step does: a fresh gradient, not one added to
        loss_fn().backward()

    def optimizer_and_ema():
        if any(q.grad is None for q in params):  # every parameter has a gradient in a training step
            for q in params:
                q.grad = torch.randn_like(q) * 1e-3
        opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, [q.detach() for q in params], 0.005)

    return {
        "prototypeForwardBackward": median_ms(lambda: backward(lambda: proto_model(states).sum())),
        "decoderForwardBackward": median_ms(lambda: backward(lambda: decoder(xt, t, proto).square().mean())),
        "optimizerAndEma": median_ms(optimizer_and_ema),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, choices=["lstm", "transformer", "none"])
    p.add_argument("--tokens", type=int, default=201)
    p.add_argument("--token-size", type=int, default=256)
    p.add_argument("--checkpoints", type=int, default=50)
    p.add_argument("--states", type=int, default=2)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--channels", default="1,16,32,64,32,16,1")
    p.add_argument("--kernel", type=int, default=7)
    p.add_argument("--prediction", choices=["v", "epsilon"], default="v")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--diffusion", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--ema", type=float, default=0.995)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument(
        "--parts",
        action="store_true",
        help="time the step's parts instead (prototype and decoder forward + backward, AdamW + EMA)",
    )
    a = p.parse_args()

    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    L, k = a.tokens, a.token_size
    dev = torch.device(a.device)
    tokens = torch.from_numpy(rng.normal(0, 0.05, (a.checkpoints, L, k)).astype(np.float32))
    tokens[:, -1, k // 2 :] = float("nan")  # padding in the last token, as a tokenizer leaves it
    tokens = tokens.to(dev)
    state_of = (torch.arange(a.checkpoints) % a.states).to(dev)
    proto_model = Prototype(a.model, L, a.d, a.layers, a.states, a.heads).to(dev)
    decoder = Decoder(k, a.d, [int(c) for c in a.channels.split(",")], a.kernel).to(dev)
    params = list(proto_model.parameters()) + list(decoder.parameters())
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)
    ema = [q.detach().clone() for q in params]
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    alpha_bars = torch.cumprod(1 - betas, 0).float().to(dev)
    if a.parts:
        print(json.dumps({"model": a.model, "partsMs": time_parts(a, proto_model, decoder, opt, ema, params)}))
        return
    total = a.warmup + a.steps
    times = []
    for step in range(total):
        t0 = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = 0.5 * a.lr * (1 + math.cos(math.pi * step / total))
        ckpts = torch.from_numpy(rng.choice(a.checkpoints, a.batch, replace=False)).to(dev)
        states, slot = torch.unique(state_of[ckpts], return_inverse=True)
        pairs = torch.from_numpy(rng.choice(a.batch * L, a.diffusion, replace=False)).to(dev)
        b, pos = pairs // L, pairs % L
        x0 = tokens[ckpts[b], pos]
        mask = ~torch.isnan(x0)
        x0 = torch.where(mask, x0, 0.0)
        t = torch.randint(0, 1000, (a.diffusion,), device=dev)
        noise = torch.randn_like(x0)
        ab = alpha_bars[t].unsqueeze(1)
        signal, noise_rate = ab.sqrt(), (1 - ab).sqrt()
        xt = signal * x0 + noise_rate * noise
        target = signal * noise - noise_rate * x0 if a.prediction == "v" else noise
        protos = proto_model(states)  # [distinct states, L, d]
        proto = protos[slot[b], pos]
        out = decoder(xt, t, proto)
        loss = ((out - target) ** 2)[mask].mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            decay = min(a.ema, (1 + step) / (10 + step))
            torch._foreach_lerp_(ema, [q.detach() for q in params], 1 - decay)
        loss.item()
        if step >= a.warmup:
            times.append((time.perf_counter() - t0) * 1000)
    print(
        json.dumps(
            {
                "model": a.model,
                "stepMs": times,
                "device": a.device,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
