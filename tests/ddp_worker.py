"""Trains a small model with `fit` on one process or under torchrun, for tests/test_distributed.py.

    python tests/ddp_worker.py OUT EPOCHS                      # one process
    torchrun --nproc_per_node 2 tests/ddp_worker.py OUT EPOCHS  # two, the same global batch

Writes OUT/losses-<rank>.json (the loss of every step on this process's batch) and, from rank
0, OUT/weights.pt; checkpoints go to OUT/run, so a second call with more epochs resumes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from ssvlib import distributed
from ssvlib.config import seed_everything
from ssvlib.data.loader import make_loader
from ssvlib.settings import Optim
from ssvlib.train import Trainer, fit, make_optimizer, make_scheduler

GLOBAL_BATCH = 8


class Points(Dataset):
    """64 points of two classes, with per-epoch noise drawn from (epoch, index)."""

    def __init__(self, n: int = 64) -> None:
        rng = np.random.default_rng(0)
        self.labels = np.arange(n) % 2
        self.points = (self.labels[:, None] * 2.0 - 1 + rng.normal(size=(n, 6))).astype(np.float32)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        noise = np.random.default_rng((self.epoch, index)).normal(0, 0.1, 6).astype(np.float32)
        return torch.from_numpy(self.points[index] + noise), int(self.labels[index])


def main(out: Path, epochs: int) -> None:
    device = distributed.start()
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    loader = make_loader(Points(), GLOBAL_BATCH, train=True, device=device, seed=0)
    optim = Optim("sgd", lr=0.1, momentum=0.9, schedule="cosine")
    optimizer = make_optimizer(model.parameters(), optim)
    scheduler = make_scheduler(optimizer, optim, 4, steps_per_epoch=len(loader))
    losses = []

    def loss_fn(outputs, labels):
        loss = nn.functional.cross_entropy(outputs, labels)
        losses.append(loss.item())
        return loss

    trainer = Trainer(
        optimizer, scheduler, device=device, loss_fn=loss_fn, folder=out / "run",
        run_config={"test": "ddp"}, progress=False,
    )  # fmt: skip
    history = fit(model, loader, None, epochs, trainer)
    rank = distributed.rank()
    (out / f"losses-{rank}.json").write_text(json.dumps(losses))
    if distributed.is_main():
        torch.save(model.state_dict(), out / "weights.pt")
        (out / "history.json").write_text(json.dumps(history.to_dict()))
    distributed.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
