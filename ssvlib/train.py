"""The one training loop every chapter uses (`fit`), with its optimiser, schedule and loaders.

A typical run (`ssvlib.pretrain.pretrain` and `ssvlib.evaluate.finetune` both look like this;
`make_loader` is `ssvlib.data.loader`'s)::

    seed_everything(run.seed)
    model = ...
    train_loader = make_loader(dataset, 8, train=True, device=run.device, seed=run.seed)
    trainer = make_trainer(model.parameters(), Optim("sgd", lr=1e-3), epochs, train_loader,
                           run, folder=run_dir("vcop", settings), run_config=settings)
    history = fit(model, train_loader, val_loader, epochs, trainer)

`fit` is a short loop: `fit_epoch` (the optimiser steps), `validate`, and `end_epoch` (keep the
best weights, write the checkpoint), between `resume` and `finish`.

Checkpoints and resume (`ssvlib.checkpoint`). After every epoch `fit` writes
`trainer.folder/last.pt`; called again with `resume=True` it continues after the last complete
epoch, and a run that already finished returns at once with its weights loaded, so a notebook can
be re-executed without retraining. A checkpoint whose `run_config` differs is another run: `fit`
refuses it (naming the keys) unless `resume=False`. With a validation loader, the weights of the
best epoch (lowest `val_loss`, or highest `val_acc` with ``monitor="val_acc"``) are kept and, with
`select_best=True`, loaded at the end; `History.best_epoch` says which epoch that was.

Reproducible runs. On the CPU, a run stopped after any epoch and resumed ends bit-identical to one
that never stopped, provided that `seed_everything(seed)` is called before the model is built, the
loader comes from `make_loader` (its batch order depends only on seed and epoch), and the dataset
draws its random choices from (seed, epoch, index) with a `set_epoch` method, which `fit` calls
before every epoch (in worker processes, the loader's (epoch, index) keys carry it:
`ssvlib.data.loader`).

Several processes (torchrun, `ssvlib.distributed`): each process loads its share of every global
batch, the model is wrapped in DistributedDataParallel (on GPUs with SyncBatchNorm, so that batch
norm sees the global batch; on CPUs PyTorch has none, and each process normalises its share), the
epoch's numbers are summed over the processes, and rank 0 alone writes checkpoints; resuming
works as above.

Unreadable videos. A training dataset that cannot decode a video gives the sample to the next
video and names the failed one (`ssvlib.data.datasets`); `collate` gathers those names into the
batch, `fit` records them per epoch (`skipped`) beside the videos the dataset left out when it was
built (`History.left_out`), and the closing line lists them.

On a GPU some kernels are not deterministic, so a resumed run is close to, not identical with, an
uninterrupted one. History entries `samples_per_s` and `seconds` are timings and always differ.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from . import checkpoint, distributed
from .config import resolve_device, shown_path
from .data.loader import Batch
from .settings import MONITORS, Optim, check_choice

# --------------------------------------------------------------------------- optimiser, schedule


def make_optimizer(params: Iterable, optim: Optim) -> torch.optim.Optimizer:
    """SGD with momentum (the papers' choice) or AdamW; `params` may be parameter groups."""
    if optim.name == "sgd":
        return torch.optim.SGD(
            params, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay
        )
    return torch.optim.AdamW(params, lr=optim.lr, weight_decay=optim.weight_decay)


def lr_factor(optim: Optim, step: int, epochs: int, steps_per_epoch: int) -> float:
    """The learning-rate multiplier at optimisation step `step` (counted from 0)."""
    total = max(1, epochs * steps_per_epoch)
    warmup = round(optim.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return (step + 1) / warmup
    if optim.schedule == "cosine":
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if optim.schedule == "step":
        return optim.gamma ** sum(step >= m * steps_per_epoch for m in optim.milestones)
    return 1.0


def make_scheduler(
    optimizer: torch.optim.Optimizer, optim: Optim, epochs: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """A per-step schedule for `optim` (`fit` steps it after every optimiser step)."""
    if epochs < 1 or steps_per_epoch < 1:
        raise ValueError(
            f"a schedule needs epochs >= 1 and steps_per_epoch >= 1 "
            f"(got {epochs} and {steps_per_epoch})"
        )
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(optim, step, epochs, steps_per_epoch)
    )


# --------------------------------------------------------------------------- history


@dataclass
class History:
    """What `fit` measured: one dict per epoch, and which epoch was best on validation.

    Epoch dicts hold epoch (counted from 1), train_loss, train_acc, val_loss, val_acc (None without
    a validation loader; accuracies are fractions, None when outputs are not class scores), lr (of
    the first parameter group, at the epoch's last step), samples_per_s (training only), seconds.
    """

    epochs: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    best_val_loss: float | None = None
    monitor: str = "val_loss"
    left_out: list[str] = field(default_factory=list)  # unreadable when the dataset was built

    def series(self, key: str) -> list:
        """One value per epoch, e.g. history.series("val_acc") for a plot."""
        return [record[key] for record in self.epochs]

    @property
    def best(self) -> dict:
        """The record of the best epoch (the last epoch when nothing was validated)."""
        return self.epochs[(self.best_epoch or len(self.epochs)) - 1]

    @property
    def skipped(self) -> list[str]:
        """Every unreadable video of the run: left out at the start, or skipped in an epoch."""
        during = [name for r in self.epochs for name in r.get("skipped", [])]
        return sorted(set(self.left_out + during))

    def table(self) -> str:
        """The epochs as a compact text table, one line each."""
        lines = ["epoch  train loss  train acc  val loss  val acc        lr  samples/s"]
        for r in self.epochs:
            mark = " *" if r["epoch"] == self.best_epoch else ""
            lines.append(
                f"{r['epoch']:5d}  {r['train_loss']:10.4f}  {_fmt(r['train_acc']):>9s}  "
                f"{_fmt(r['val_loss'], 4):>8s}  {_fmt(r['val_acc']):>7s}  {r['lr']:8.2g}  "
                f"{r['samples_per_s']:9.1f}{mark}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """A plain, JSON-ready dict."""
        return {
            "epochs": [dict(record) for record in self.epochs],
            "best_epoch": self.best_epoch,
            "best_val_loss": self.best_val_loss,
            "monitor": self.monitor,
            "left_out": list(self.left_out),
        }

    @classmethod
    def from_dict(cls, data: dict) -> History:
        """The inverse of to_dict."""
        return cls(
            epochs=[dict(record) for record in data["epochs"]],
            best_epoch=data.get("best_epoch"),
            best_val_loss=data.get("best_val_loss"),
            monitor=data.get("monitor", "val_loss"),
            left_out=list(data.get("left_out", [])),
        )


class _Tally:
    """Running sums for a mean loss and an accuracy over the samples seen so far."""

    def __init__(self) -> None:
        self.loss_sum, self.samples, self.correct, self.scored = 0.0, 0, 0, 0

    def add(self, loss: float, outputs: torch.Tensor, labels: torch.Tensor) -> None:
        n = labels.shape[0]
        self.loss_sum += loss * n
        self.samples += n
        if outputs.ndim == 2 and labels.ndim == 1 and not labels.is_floating_point():
            self.correct += int((outputs.argmax(1) == labels).sum())
            self.scored += n

    def combine_processes(self) -> None:
        """Sum the tallies of every process (under torchrun): the epoch's numbers, not a share."""
        totals = distributed.sum_over_processes(
            self.loss_sum, self.samples, self.correct, self.scored
        )
        self.loss_sum, self.samples, self.correct, self.scored = totals[0], *map(int, totals[1:])

    @property
    def loss(self) -> float:
        return self.loss_sum / max(1, self.samples)

    @property
    def acc(self) -> float | None:
        return self.correct / self.scored if self.scored else None


def _improved(record: dict, history: History) -> bool:
    """True when this epoch beats the best so far on the monitored validation number."""
    if record["val_loss"] is None or history.best_epoch is None:
        return record["val_loss"] is not None
    best = history.epochs[history.best_epoch - 1]
    if history.monitor == "val_acc" and record["val_acc"] is not None:
        return record["val_acc"] > best["val_acc"]
    return record["val_loss"] < best["val_loss"]


# --------------------------------------------------------------------------- the loop


@dataclass(frozen=True)
class Run:
    """Where a run trains and how it draws: its seed, its device (resolved once, here), its
    loader processes (None: 0 on a CPU, 8 with a GPU) and whether it shows progress."""

    seed: int = 0
    device: torch.device = torch.device("cpu")
    num_workers: int | None = 0
    progress: bool = True

    def __post_init__(self) -> None:
        """A device name ("auto", "cuda", "cpu") becomes the device it names."""
        if not isinstance(self.device, torch.device):
            object.__setattr__(self, "device", resolve_device(self.device))


@dataclass
class Trainer:
    """How `fit` trains: the optimiser and its schedule, the loss, the device and the run folder.

    `amp` None means bf16 autocast on CUDA and none elsewhere; `loss_fn` (default cross-entropy)
    returns the batch mean; `monitor` ("val_loss" or "val_acc") picks the best epoch, whose
    weights the model ends with when `select_best`; `max_steps` caps the steps of an epoch. With a
    `folder`, every epoch is checkpointed there and `run_config` (a JSON-able dict naming the run)
    must match to resume.
    """

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    device: torch.device = torch.device("cpu")
    loss_fn: Callable | None = None
    amp: bool | None = None
    grad_clip: float | None = None
    max_steps: int | None = None
    monitor: str = "val_loss"
    select_best: bool = True
    folder: Path | None = None
    run_config: dict | None = None
    resume: bool = True
    desc: str = "train"
    progress: bool = True

    def __post_init__(self) -> None:
        """Check the choices and fill in the defaults that depend on the device."""
        check_choice("monitor", self.monitor, MONITORS)
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps={self.max_steps} must be >= 1, or None for all")
        if not isinstance(self.device, torch.device):
            self.device = resolve_device(self.device)
        self.amp = self.device.type == "cuda" if self.amp is None else bool(self.amp)
        self.loss_fn = self.loss_fn if self.loss_fn is not None else nn.CrossEntropyLoss()
        self.folder = Path(self.folder) if self.folder is not None else None
        self.run_config = checkpoint.normalise_config(self.run_config)


def make_trainer(
    params: Iterable, optim: Optim, epochs: int, loader: Sized, run: Run, **options
) -> Trainer:
    """The optimiser and schedule of `optim` for `epochs` over `loader` (at most
    ``options["max_steps"]`` steps an epoch), on the run's device; other `options` are
    `Trainer`'s (folder, run_config, monitor, loss_fn, desc). Pretext training and fine-tuning
    both start here."""
    max_steps = options.get("max_steps")
    steps = len(loader) if max_steps is None else min(len(loader), max_steps)
    optimizer = make_optimizer(params, optim)
    scheduler = make_scheduler(optimizer, optim, epochs, steps)
    options.setdefault("progress", run.progress)
    return Trainer(optimizer, scheduler, device=run.device, **options)


def fit(
    model: nn.Module, train_loader: Iterable, val_loader: Iterable | None, epochs: int,
    trainer: Trainer,
) -> History:  # fmt: skip
    """Train `model` for `epochs`: after each epoch validate, keep the best and checkpoint.

    A run stopped after any epoch resumes there; a finished one returns at once with its
    weights loaded. Progress is one bar for the whole run and one closing line.
    """
    if epochs < 0:
        raise ValueError(f"need epochs >= 0, got {epochs}")
    model.to(trainer.device)
    history, start = resume(model, train_loader, val_loader, epochs, trainer)
    net = distributed.wrap(model, trainer.device)
    steps = _epoch_steps(train_loader, trainer.max_steps)
    bar = tqdm(
        total=None if steps is None else steps * (epochs - start), desc=trainer.desc,
        disable=not trainer.progress or start == epochs or not distributed.is_main(), leave=False,
    )  # fmt: skip
    best = None
    for epoch in range(start, epochs):
        started = time.perf_counter()
        record = fit_epoch(net, train_loader, epoch, trainer, bar)
        record["val_loss"], record["val_acc"] = validate(model, val_loader, trainer)
        record["seconds"] = time.perf_counter() - started
        best = end_epoch(model, history, record, trainer, (train_loader, val_loader)) or best
    bar.close()
    return finish(model, history, epochs, start, trainer, best)


def resume(
    model: nn.Module, train_loader: Iterable, val_loader: Iterable | None, epochs: int,
    trainer: Trainer,
) -> tuple[History, int]:  # fmt: skip
    """The run so far and the epoch to start from: the folder's last checkpoint, restored into
    the model, optimiser, schedule and loaders, or a fresh History and epoch 0."""
    history, start = History(monitor=trainer.monitor), 0
    last = trainer.folder / "last.pt" if trainer.folder is not None else None
    if last is not None and trainer.resume and last.exists():
        ckpt = checkpoint.load_last(last, trainer.run_config, epochs)
        checkpoint.restore(
            ckpt, model, trainer.optimizer, trainer.scheduler, train_loader, val_loader
        )
        history, start = History.from_dict(ckpt["history"]), ckpt["epoch"]
    history.left_out = list(getattr(getattr(train_loader, "dataset", None), "unreadable", []))
    return history, start


def fit_epoch(net: nn.Module, loader: Iterable, epoch: int, trainer: Trainer, bar) -> dict:
    """One epoch of optimiser steps; returns its record: training loss and accuracy, the last
    learning rate, samples per second and the videos skipped as unreadable (validation and the
    epoch's seconds are `fit`'s to fill in)."""
    _set_epoch(loader, epoch)
    net.train()
    started = time.perf_counter()
    tally, skipped, lr = _Tally(), [], None
    for step, batch in enumerate(itertools.islice(loader, trainer.max_steps)):
        inputs, labels = _to_device(batch, trainer.device)
        skipped.extend(batch.skipped if isinstance(batch, Batch) else ())
        lr = trainer.optimizer.param_groups[0]["lr"]
        loss, outputs = train_step(
            net, inputs, labels, trainer, f"epoch {epoch + 1}, step {step + 1}"
        )
        tally.add(loss, outputs, labels)
        bar.update()
        bar.set_postfix_str(f"epoch {epoch + 1} loss {tally.loss:.3f}", refresh=False)
    tally.combine_processes()
    if tally.samples == 0:
        raise ValueError(
            f"{trainer.desc}: the training loader yielded no batches in epoch {epoch + 1} "
            "(empty dataset, or batch_size larger than it with drop_last=True?)"
        )
    skipped = distributed.gather_lists(skipped)
    return {
        "epoch": epoch + 1, "train_loss": tally.loss, "train_acc": tally.acc, "val_loss": None,
        "val_acc": None, "lr": lr, "samples_per_s": tally.samples / (time.perf_counter() - started),
        "seconds": None, "skipped": skipped,
    }  # fmt: skip


def train_step(
    net: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, trainer: Trainer, where: str
) -> tuple[float, torch.Tensor]:
    """One optimiser step on a batch: forward (bf16 autocast where `trainer.amp`), backward,
    step, schedule. Returns (the batch's loss, the outputs). A loss that is not finite stops the
    run before the weights take the step, naming `where` it happened."""
    with torch.autocast(trainer.device.type, dtype=torch.bfloat16, enabled=trainer.amp):
        outputs = net(inputs)
        loss = trainer.loss_fn(outputs, labels)
    trainer.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    value = loss.item()
    if not math.isfinite(value):
        lr = trainer.optimizer.param_groups[0]["lr"]
        raise FloatingPointError(
            f"{trainer.desc}: the loss is {value} at {where} (lr={lr:g}). Lower the learning "
            "rate, set grad_clip, or check the inputs."
        )
    if trainer.grad_clip is not None:
        nn.utils.clip_grad_norm_(net.parameters(), trainer.grad_clip)
    trainer.optimizer.step()
    if trainer.scheduler is not None:
        trainer.scheduler.step()
    return value, outputs


def validate(
    model: nn.Module, loader: Iterable | None, trainer: Trainer
) -> tuple[float | None, float | None]:
    """Validation loss and accuracy after an epoch; (None, None) without a validation loader."""
    if loader is None:
        return None, None
    return evaluate_loss(model, loader, trainer.device, trainer.loss_fn, amp=trainer.amp)


def end_epoch(
    model: nn.Module, history: History, record: dict, trainer: Trainer, loaders: tuple
) -> dict | None:
    """Append the epoch's record; keep the weights when it is the best so far (returned, on
    the main process); write the checkpoint that a resumed run starts from."""
    main, best = distributed.is_main(), None
    if _improved(record, history):
        history.best_epoch, history.best_val_loss = record["epoch"], record["val_loss"]
        if trainer.select_best:  # before last.pt, which then names this epoch as the best
            folder = trainer.folder if main else None
            best = checkpoint.keep_best(model, record["epoch"], folder)
    history.epochs.append(record)
    if trainer.folder is not None and main:  # one writer; the others wait below
        checkpoint.save(
            {  # everything needed to continue after this epoch
                "epoch": record["epoch"],
                "model": model.state_dict(),
                "optimizer": trainer.optimizer.state_dict(),
                "scheduler": (
                    trainer.scheduler.state_dict() if trainer.scheduler is not None else None
                ),
                "history": history.to_dict(),
                "run_config": trainer.run_config,
                "rng": checkpoint.rng_state(*loaders),
            },
            trainer.folder / "last.pt",
        )
    distributed.barrier()
    return best


def finish(
    model: nn.Module, history: History, epochs: int, start: int, trainer: Trainer, best
) -> History:
    """Load the best epoch's weights (with `select_best`) and print the run's closing line."""
    if trainer.select_best and history.best_epoch is not None:
        if trainer.folder is not None:
            best = checkpoint.read_best(trainer.folder, history.best_epoch)
        if best is not None:
            model.load_state_dict(best)
    if trainer.progress and distributed.is_main():
        print(_summary(trainer.desc, history, epochs, resumed_from=start, folder=trainer.folder))
    return history


@torch.no_grad()
def evaluate_loss(
    model: nn.Module,
    loader: Iterable,
    device: str | torch.device = "auto",
    loss_fn: Callable | None = None,
    amp: bool | None = None,
) -> tuple[float, float | None]:
    """Mean loss and accuracy (a fraction; None if outputs are not class scores) over `loader`."""
    device = resolve_device(device)
    use_amp = device.type == "cuda" if amp is None else bool(amp)
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    was_training = model.training
    model.eval()
    tally = _Tally()
    for batch in loader:
        inputs, labels = _to_device(batch, device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            outputs = model(inputs)
            loss = loss_fn(outputs, labels)
        tally.add(loss.item(), outputs, labels)
    model.train(was_training)
    if tally.samples == 0:
        raise ValueError("evaluate_loss: the loader yielded no batches (is its dataset empty?)")
    return tally.loss, tally.acc


# --------------------------------------------------------------------------- loop helpers


def _to_device(batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, labels) of a batch on `device`; extra batch entries are dropped."""
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise TypeError(
            f"a batch must be (inputs, labels) or (inputs, labels, *extra); "
            f"got {type(batch).__name__}. Make the dataset return (input, label)."
        )
    inputs, labels = batch[0], batch[1]
    return inputs.to(device, non_blocking=True), labels.to(device, non_blocking=True)


def _epoch_steps(loader: Iterable, max_steps: int | None) -> int | None:
    """Steps in one epoch, for the progress bar (None when the loader has no length)."""
    steps = len(loader) if isinstance(loader, Sized) else None
    if max_steps is None:
        return steps
    return max_steps if steps is None else min(steps, max_steps)


def _set_epoch(loader: Iterable, epoch: int) -> None:
    """Call set_epoch(epoch) on the loader's sampler, batch sampler and dataset, where present."""
    batch_sampler = getattr(loader, "batch_sampler", None)
    parts = (
        getattr(loader, "sampler", None),
        batch_sampler,
        getattr(batch_sampler, "sampler", None),
        getattr(loader, "dataset", None),
    )
    seen = set()
    for part in parts:
        if hasattr(part, "set_epoch") and id(part) not in seen:
            part.set_epoch(epoch)
            seen.add(id(part))


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _summary(desc: str, history: History, epochs: int, resumed_from: int, folder) -> str:
    """One closing line per run: what was trained or loaded, the best epoch and its numbers."""
    if not history.epochs:
        return f"{desc}: no epochs"
    if resumed_from == epochs:
        how = f"loaded the finished run from {shown_path(folder)}"
    elif resumed_from:
        how = f"resumed after epoch {resumed_from}, trained to epoch {epochs}"
    else:
        how = f"trained {epochs} epochs"
    best = history.best
    line = f"{desc}: {how}; train loss {best['train_loss']:.3f} acc {_fmt(best['train_acc'])}"
    if best["val_loss"] is not None:
        line += (
            f", val loss {best['val_loss']:.3f} acc {_fmt(best['val_acc'])} "
            f"at epoch {best['epoch']} (best by {history.monitor})"
        )
    seconds = sum(r["seconds"] for r in history.epochs)
    line += f"; {seconds:.0f} s of training"
    if history.skipped:
        shown = "\n  ".join(history.skipped)
        line += f"\n{len(history.skipped)} unreadable videos were skipped:\n  {shown}"
    return line
