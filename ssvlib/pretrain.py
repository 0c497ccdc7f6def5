"""Pretext training, the same for every paper: `pretrain(model, recipe, videos, run)`.

It builds the two datasets (random samples of the training videos; fixed, centred samples of the
held-out groups for validation, drawn from `task.for_validation()`), the loaders, and the trainer
(`ssvlib.train.make_trainer`: the optimiser and its schedule, as fine-tuning builds them), and
runs `ssvlib.train.fit` in a run folder named by a hash of every setting.
Re-running it with the same settings loads the finished run instead of training again, and an
interrupted run resumes from its last epoch. The weights of the epoch with the lowest validation
loss are kept, as in VCOP's code, or with ``Pretext(monitor="val_acc")`` the most accurate one's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import videos_digest, weights_fingerprint
from .config import resolve_device, run_dir, seed_everything
from .data.datasets import TupleDataset
from .data.loader import make_loader
from .data.videos import Videos
from .recipe import Recipe
from .settings import Pretext, Task, View
from .train import History, Run, fit, make_trainer


def label_frequencies(task: Task, draws: int = 4000, seed: int = 0) -> np.ndarray:
    """How often each class comes out of `task.sample`, estimated from `draws` samples."""
    rng = np.random.default_rng(seed)
    num_frames = max(task.min_frames, 200)
    labels = [task.sample(num_frames, rng).label for _ in range(draws)]
    return np.bincount(labels, minlength=task.num_classes) / draws


def balanced_loss(task: Task) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Cross-entropy with class weights 1 / (num_classes x frequency): every class counts alike."""
    freq = label_frequencies(task)
    if (freq == 0).any():
        raise ValueError(f"{task.name}: a class never comes up in {freq}; nothing to balance")
    weight = torch.tensor(1.0 / (len(freq) * freq), dtype=torch.float32)

    def loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, labels, weight=weight.to(logits.device))

    return loss


def validation_data(
    task: Task,
    val_videos: Sequence,
    view: View,
    setup: Pretext,
    *,
    seed: int = 0,
    motion: str | None = None,
) -> TupleDataset:
    """The fixed held-out samples `pretrain` validates on: `setup.val_samples_per_video` per
    video, drawn from `task.for_validation()` (Shuffle and Learn: balanced classes), centred."""
    val_samples = list(val_videos) * setup.val_samples_per_video  # each copy: its own sample
    return TupleDataset(
        val_samples, task.for_validation(), view, train=False, seed=seed, motion=motion
    )


@torch.no_grad()
def pretext_predictions(
    model: nn.Module,
    data: TupleDataset,
    *,
    device: str = "auto",
    batch_size: int = 64,
    num_workers: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(true classes, predicted classes) of `model` on every sample of `data`, in eval mode."""
    dev = resolve_device(device)
    was_training = model.training
    model.eval().to(dev)
    loader = make_loader(data, batch_size, train=False, device=dev, num_workers=num_workers, seed=0)
    labels, predictions = [], []
    for x, y in loader:
        predictions.append(model(x.to(dev)).argmax(1).cpu())
        labels.append(y)
    model.train(was_training)
    return torch.cat(labels).numpy(), torch.cat(predictions).numpy()


def pretext_accuracy(
    model: nn.Module, recipe: Recipe, videos: Sequence, run: Run, samples: int = 400
) -> tuple[float, int]:
    """`model`'s pretext accuracy on fixed samples of `videos`, drawn as validation samples are
    (`task.for_validation()`, centred): at least `samples` of them and one per video (each
    copy of a video draws its own). Returns (accuracy, how many samples)."""
    per_video = max(1, -(-samples // max(1, len(videos))))
    data = TupleDataset(
        list(videos) * per_video, recipe.task.for_validation(), recipe.view, train=False,
        seed=run.seed, motion=recipe.motion,
    )  # fmt: skip
    labels, predicted = pretext_predictions(
        model, data, device=run.device, num_workers=run.num_workers
    )
    return float((labels == predicted).mean()), len(labels)


def pretrain(
    model: nn.Module,
    recipe: Recipe,
    videos: Videos,
    run: Run,
    max_steps_per_epoch: int | None = None,
) -> History:
    """Train `model` on the recipe's pretext task over `videos.fit`, validating on `videos.val`.

    Returns the History; `model` ends with the weights of its best validation epoch. The run
    folder is ``config.run_dir(task.name, settings)``: change any setting, get a new run.
    """
    task, view, setup = recipe.task, recipe.view, recipe.pretext
    train = TupleDataset(videos.fit, task, view, train=True, seed=run.seed, motion=recipe.motion)
    val = validation_data(task, videos.val, view, setup, seed=run.seed, motion=recipe.motion)
    dropped = len(train.dropped) + len(val.dropped)
    if dropped and run.progress:
        print(f"{task.name}: {dropped} videos shorter than {task.min_frames} frames dropped")
    settings = {
        "task": {"name": task.name, **dataclasses.asdict(task)},
        "view": dataclasses.asdict(view),
        "setup": dataclasses.asdict(setup),
        "model": str(model),
        "initial_weights": weights_fingerprint(model),
        "train_videos": videos_digest(train.records),
        "val_videos": videos_digest(val.records),
        "seed": run.seed,
        "motion": recipe.motion,
        "max_steps_per_epoch": max_steps_per_epoch,
    }
    seed_everything(run.seed)
    loader = make_loader(
        train, setup.batch_size, train=True, device=run.device, num_workers=run.num_workers,
        seed=run.seed,
    )  # fmt: skip
    val_loader = make_loader(
        val, 2 * setup.batch_size, train=False, device=run.device, num_workers=run.num_workers,
        seed=run.seed, persistent=True,  # validated after every epoch
    )  # fmt: skip
    trainer = make_trainer(
        model.parameters(), setup.optim, setup.epochs, loader, run,
        folder=run_dir(task.name, settings), run_config=settings, monitor=setup.monitor,
        loss_fn=balanced_loss(task) if setup.balance_classes else None,
        max_steps=max_steps_per_epoch, desc=f"{task.name} pretext",
    )  # fmt: skip
    return fit(model, loader, val_loader, setup.epochs, trainer)
