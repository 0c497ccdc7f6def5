"""Pretext training, the same for every paper: `pretrain(model, task, videos, view, setup)`.

It builds the two datasets (random samples of the training videos; fixed, centred samples of the
held-out groups for validation), the loaders, the optimiser and its schedule, and runs
`ssvlib.train.fit` in a run folder named by a hash of every setting. Re-running it with the same
settings loads the finished run instead of training again, and an interrupted run resumes from
its last epoch. The weights of the epoch with the lowest validation loss are kept, as in VCOP's
code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from .checkpoint import videos_digest, weights_fingerprint
from .config import resolve_device, run_dir, seed_everything
from .data.datasets import TupleDataset, View
from .tasks.task import Task
from .train import History, Optim, fit, make_loader, make_optimizer, make_scheduler


@dataclass(frozen=True)
class Pretext:
    """How long and how a pretext task is trained."""

    epochs: int
    batch_size: int
    optim: Optim


def pretrain(
    model: nn.Module,
    task: Task,
    train_videos: Sequence,
    val_videos: Sequence,
    view: View,
    setup: Pretext,
    *,
    device: str = "auto",
    num_workers: int | None = None,
    seed: int = 0,
    motion: str | None = None,
    max_steps_per_epoch: int | None = None,
    progress: bool = True,
) -> History:
    """Train `model` on `task` samples of `train_videos`, validating on `val_videos`.

    Returns the History; `model` ends with the weights of its best validation epoch. The run
    folder is ``config.run_dir(task.name, settings)``: change any setting, get a new run.
    """
    dev = resolve_device(device)
    train = TupleDataset(train_videos, task, view, train=True, seed=seed, motion=motion)
    val = TupleDataset(val_videos, task, view, train=False, seed=seed, motion=motion)
    dropped = len(train.dropped) + len(val.dropped)
    if dropped and progress:
        print(f"{task.name}: {dropped} videos shorter than {task.min_frames} frames dropped")
    settings = {
        "task": {"name": task.name, **dataclasses.asdict(task)},
        "view": dataclasses.asdict(view),
        "setup": dataclasses.asdict(setup),
        "model": str(model),
        "initial_weights": weights_fingerprint(model),
        "train_videos": videos_digest(train.records),
        "val_videos": videos_digest(val.records),
        "seed": seed,
        "motion": motion,
        "max_steps_per_epoch": max_steps_per_epoch,
    }
    seed_everything(seed)
    train_loader = make_loader(
        train, setup.batch_size, train=True, device=dev, num_workers=num_workers, seed=seed
    )
    val_loader = make_loader(
        val, 2 * setup.batch_size, train=False, device=dev, num_workers=num_workers, seed=seed
    )
    steps = (
        len(train_loader)
        if max_steps_per_epoch is None
        else min(len(train_loader), max_steps_per_epoch)
    )
    optimizer = make_optimizer(model.parameters(), setup.optim)
    scheduler = make_scheduler(optimizer, setup.optim, setup.epochs, steps)
    return fit(
        model,
        train_loader,
        epochs=setup.epochs,
        optimizer=optimizer,
        scheduler=scheduler,
        val_loader=val_loader,
        device=dev,
        checkpoint_dir=run_dir(task.name, settings),
        run_config=settings,
        max_steps_per_epoch=max_steps_per_epoch,
        progress=progress,
        desc=f"{task.name} pretext",
    )
