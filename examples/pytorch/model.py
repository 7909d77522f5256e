"""The example's network, shared by the training script and the evaluation command."""
from torch import nn


def make_model() -> nn.Module:
    # 784-32-10 with BatchNorm: its running statistics and its int64 counter travel with the weights.
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 32),
        nn.BatchNorm1d(32),
        nn.ReLU(),
        nn.Linear(32, 10),
    )
