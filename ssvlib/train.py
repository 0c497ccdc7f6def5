"""The one training loop every notebook uses (`fit`), and its optimiser, schedule, loader helpers.

A typical run (the pretext tasks and the fine-tuning in `ssvlib.evaluate` all look like this)::

    seed_everything(seed)
    model = ...
    loader = DataLoader(dataset, batch_size=8, sampler=EpochSampler(len(dataset), seed),
                        drop_last=True, **loader_kwargs(device, num_workers, seed=seed))
    optimizer = make_optimizer(model.parameters(), "sgd", lr=1e-3)
    scheduler = make_scheduler(optimizer, "cosine", total_steps=epochs * len(loader))
    history = fit(model, loader, epochs=epochs, optimizer=optimizer, scheduler=scheduler,
                  val_loader=val_loader, checkpoint_dir=cache_dir() / "runs" / "vcop-r3d",
                  run_config={"lr": 1e-3, "epochs": epochs, "seed": seed})

Checkpoints and resume. After every epoch `fit` writes `checkpoint_dir/last.pt` (model, optimiser,
scheduler, history, run_config and the random-number states), atomically: a stopped run loses at
most the epoch in progress. Called again with `resume=True` it continues after the last complete
epoch; a run that already finished returns at once with its weights loaded, so a notebook can be
re-executed without retraining. A checkpoint whose `run_config` differs is another run: `fit`
refuses it (naming the keys) unless `resume=False`, which starts afresh and overwrites it.
With a validation loader, the weights of the lowest-validation-loss epoch go to
`checkpoint_dir/best.pt` (or stay in memory without a folder); `select_best=True` loads them at the
end and `History.best_epoch` says which epoch that was.

Reproducible runs. On the CPU, a run stopped after any epoch and resumed ends bit-identical to one
that never stopped, provided that:

1. `seed_everything(seed)` is called before the model is built;
2. the order of the batches depends only on (seed, epoch): give the loader
   `sampler=EpochSampler(len(dataset), seed)`, or `shuffle=True` with the `generator` that
   `loader_kwargs` makes (fit stores and restores that generator's state);
3. the dataset draws its random choices from (seed, epoch, index) and has `set_epoch(epoch)`;
   `fit` calls `set_epoch(epoch)` (0-based) on the sampler and the dataset before every epoch.
   This is why `loader_kwargs` turns persistent workers off: a persistent worker keeps the copy of
   the dataset made at the first epoch and never sees a later `set_epoch`.

On a GPU some kernels are not deterministic, so a resumed run is close to, not identical with, an
uninterrupted one. History entries `samples_per_s` and `seconds` are timings and always differ.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Sampler
from tqdm import tqdm

from ssvlib.config import check_choice, resolve_device

OPTIMIZERS = ("sgd", "adamw")
SCHEDULERS = ("cosine", "step", "none")
TIMING_KEYS = ("samples_per_s", "seconds")  # history entries that differ between identical runs


# --------------------------------------------------------------------------- optimiser, schedule


def make_optimizer(
    params: Iterable,
    name: str = "sgd",
    lr: float = 1e-3,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
) -> torch.optim.Optimizer:
    """SGD with momentum (the papers' choice) or AdamW; `params` may be parameter groups."""
    check_choice("optimizer", name, OPTIMIZERS)
    if not lr > 0:
        raise ValueError(f"lr={lr!r} must be a positive number (the papers use 1e-3 to 1e-2)")
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def make_scheduler(
    optimizer: torch.optim.Optimizer,
    name: str = "cosine",
    total_steps: int | None = None,
    milestones: Iterable[int] = (),
    gamma: float = 0.1,
    warmup_steps: int = 0,
) -> torch.optim.lr_scheduler.LRScheduler:
    """A per-step schedule: linear warmup, then cosine to 0, x gamma at each milestone, or flat.

    `total_steps` and `milestones` count optimisation steps, not epochs: `fit` steps the
    scheduler once after every optimiser step (total_steps = epochs * steps per epoch).
    """
    check_choice("scheduler", name, SCHEDULERS)
    milestones = sorted(int(m) for m in milestones)
    if name == "cosine" and (total_steps is None or total_steps < 1):
        raise ValueError(
            f"scheduler 'cosine' needs total_steps >= 1 (got {total_steps!r}); "
            "pass epochs * len(train_loader)"
        )
    if warmup_steps < 0 or (total_steps is not None and warmup_steps > total_steps):
        raise ValueError(f"warmup_steps={warmup_steps} must lie in [0, total_steps={total_steps}]")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if name == "cosine":
            progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        if name == "step":
            return gamma ** sum(step >= m for m in milestones)
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# --------------------------------------------------------------------------- data loading


class EpochSampler(Sampler[int]):
    """Shuffles range(n) with a permutation drawn from (seed, epoch): same epoch, same order."""

    def __init__(self, n: int | Sized, seed: int = 0, shuffle: bool = True) -> None:
        super().__init__()
        self.n = n if isinstance(n, int) else len(n)
        if self.n < 0 or seed < 0:
            raise ValueError(
                f"EpochSampler needs n >= 0 and seed >= 0 (got n={self.n}, seed={seed})"
            )
        self.seed, self.shuffle, self.epoch = seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration yields (`fit` calls this)."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.n))
        return iter(np.random.default_rng((self.seed, self.epoch)).permutation(self.n).tolist())

    def __len__(self) -> int:
        return self.n


def seed_worker(worker_id: int) -> None:
    """Seed Python's and NumPy's global generators in a DataLoader worker from its torch seed."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def default_num_workers(device: torch.device) -> int:
    """Loader processes: up to 8 beside a GPU; on CPU at most 2, half the cores left for math."""
    cpus = os.cpu_count() or 1
    if device.type == "cuda":
        return max(0, min(8, cpus - 1))
    return min(2, cpus // 2)


def loader_kwargs(
    device: str | torch.device = "auto",
    num_workers: int | None = None,
    *,
    seed: int = 0,
    persistent_workers: bool = False,
) -> dict:
    """DataLoader keyword arguments for `device`: workers, pinned memory on CUDA, seeded workers.

    num_workers=None picks `default_num_workers(device)`. Persistent workers stay off by default
    because they never see `dataset.set_epoch` (see the module docstring); turn them on only for
    datasets whose samples do not depend on the epoch.
    """
    device = resolve_device(str(device))
    if num_workers is None:
        num_workers = default_num_workers(device)
    if num_workers < 0:
        raise ValueError(f"num_workers={num_workers} must be >= 0 (0 loads in the main process)")
    kwargs = {
        "num_workers": num_workers,
        "pin_memory": device.type == "cuda",
        "worker_init_fn": seed_worker,
        "generator": torch.Generator().manual_seed(seed),
    }
    if num_workers > 0:
        kwargs["persistent_workers"] = persistent_workers
    return kwargs


# --------------------------------------------------------------------------- history


@dataclass
class History:
    """What `fit` measured: one dict per epoch, and which epoch had the lowest validation loss.

    Epoch dicts hold epoch (counted from 1), train_loss, train_acc, val_loss, val_acc (None without
    a validation loader; accuracies are fractions, None when outputs are not class scores), lr (of
    the first parameter group, at the epoch's last step), samples_per_s (training only), seconds.
    """

    epochs: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    best_val_loss: float | None = None

    def series(self, key: str) -> list:
        """One value per epoch, e.g. history.series("val_acc") for a plot."""
        return [record[key] for record in self.epochs]

    def to_dict(self) -> dict:
        """A plain, JSON-ready dict."""
        return {
            "epochs": [dict(record) for record in self.epochs],
            "best_epoch": self.best_epoch,
            "best_val_loss": self.best_val_loss,
        }

    @classmethod
    def from_dict(cls, data: dict) -> History:
        """The inverse of to_dict."""
        return cls(
            epochs=[dict(record) for record in data["epochs"]],
            best_epoch=data.get("best_epoch"),
            best_val_loss=data.get("best_val_loss"),
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

    @property
    def loss(self) -> float:
        return self.loss_sum / max(1, self.samples)

    @property
    def acc(self) -> float | None:
        return self.correct / self.scored if self.scored else None


# --------------------------------------------------------------------------- the loop


def fit(
    model: nn.Module,
    train_loader: Iterable,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    val_loader: Iterable | None = None,
    device: str | torch.device = "auto",
    amp: bool | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = True,
    select_best: bool = True,
    loss_fn: Callable | None = None,
    progress: bool = True,
    max_steps_per_epoch: int | None = None,
    grad_clip: float | None = None,
    desc: str = "train",
    run_config: dict | None = None,
) -> History:
    """Train `model` on (inputs, labels, *extra) batches; checkpoint, resume, keep the best weights.

    amp=None means bf16 autocast on CUDA and none elsewhere. loss_fn (default cross-entropy) must
    return the batch mean. select_best loads the weights of the lowest-validation-loss epoch at the
    end (needs val_loader). run_config is any JSON-able dict that identifies the run.
    """
    if epochs < 0 or (max_steps_per_epoch is not None and max_steps_per_epoch < 1):
        raise ValueError(
            f"need epochs >= 0 and max_steps_per_epoch >= 1 or None "
            f"(got epochs={epochs}, max_steps_per_epoch={max_steps_per_epoch})"
        )
    device = resolve_device(str(device))
    use_amp = device.type == "cuda" if amp is None else bool(amp)
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    run_config = _normalise_config(run_config)
    model.to(device)
    _warn_if_workers_miss_epochs(train_loader)

    # Resume: continue after the last complete epoch (a finished run skips the loop entirely).
    history, start, best_state = History(), 0, None
    if ckpt_dir is not None and resume and (ckpt_dir / "last.pt").exists():
        ckpt = _load_checkpoint(ckpt_dir / "last.pt", run_config, epochs)
        _restore(ckpt, model, optimizer, scheduler, train_loader, val_loader)
        history, start = History.from_dict(ckpt["history"]), ckpt["epoch"]
        if progress:
            state = "finished, loaded" if start == epochs else f"resumed after epoch {start}"
            tqdm.write(f"{desc}: {state} from {ckpt_dir}")

    for epoch in range(start, epochs):
        _set_epoch(train_loader, epoch)
        model.train()
        started = time.perf_counter()
        tally = _Tally()
        bar = tqdm(
            total=_epoch_steps(train_loader, max_steps_per_epoch),
            leave=False,
            desc=f"{desc} {epoch + 1}/{epochs}",
            disable=not progress,
        )
        for step, batch in enumerate(itertools.islice(train_loader, max_steps_per_epoch)):
            inputs, labels = _to_device(batch, device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                outputs = model(inputs)
                loss = loss_fn(outputs, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            lr, loss_value = optimizer.param_groups[0]["lr"], loss.item()
            if not math.isfinite(loss_value):  # stop before the weights take a NaN step
                raise FloatingPointError(
                    f"{desc}: the loss is {loss_value} at epoch {epoch + 1}, step {step + 1} "
                    f"(lr={lr:g}). Lower the learning rate, set grad_clip, or check the inputs."
                )
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            tally.add(loss_value, outputs, labels)
            bar.update()
            bar.set_postfix(loss=f"{tally.loss:.4f}", acc=_fmt(tally.acc), refresh=False)
        bar.close()
        if tally.samples == 0:
            raise ValueError(
                f"{desc}: train_loader yielded no batches in epoch {epoch + 1} "
                "(empty dataset, or batch_size larger than it with drop_last=True?)"
            )
        train_seconds = time.perf_counter() - started

        val_loss, val_acc = None, None
        if val_loader is not None:
            val_loss, val_acc = evaluate_loss(model, val_loader, device, loss_fn, amp=use_amp)
        record = {
            "epoch": epoch + 1,
            "train_loss": tally.loss,
            "train_acc": tally.acc,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": lr,
            "samples_per_s": tally.samples / train_seconds,
            "seconds": time.perf_counter() - started,
        }
        history.epochs.append(record)
        if val_loss is not None and (
            history.best_val_loss is None or val_loss < history.best_val_loss
        ):
            history.best_epoch, history.best_val_loss = epoch + 1, val_loss
            if select_best:  # before last.pt, which then names this epoch as the best
                best_state = _keep_best(model, epoch + 1, ckpt_dir)
        if ckpt_dir is not None:
            checkpoint = {  # everything needed to continue after this epoch
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "history": history.to_dict(),
                "run_config": run_config,
                "rng": _rng_state(train_loader, val_loader),
            }
            _atomic_save(checkpoint, ckpt_dir / "last.pt")
        if progress:
            tqdm.write(_summary(record, epochs))

    if select_best and history.best_epoch is not None:
        best_state = best_state if ckpt_dir is None else _read_best(ckpt_dir, history.best_epoch)
        if best_state is not None:
            model.load_state_dict(best_state)
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
    device = resolve_device(str(device))
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
    """(inputs, labels) of a batch on `device`; extra batch entries (e.g. indices) are dropped."""
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


def _warn_if_workers_miss_epochs(loader: Iterable) -> None:
    """Persistent workers keep their first copy of the dataset, so set_epoch never reaches them."""
    if getattr(loader, "persistent_workers", False) and hasattr(loader.dataset, "set_epoch"):
        warnings.warn(
            "the train loader has persistent_workers=True, so its workers never see "
            "dataset.set_epoch(epoch) and repeat the first epoch's random choices; "
            "build it with loader_kwargs(...) (persistent_workers=False)",
            stacklevel=3,
        )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _summary(record: dict, epochs: int) -> str:
    """One line per epoch for the notebook's output."""
    line = (
        f"epoch {record['epoch']}/{epochs}  train loss {record['train_loss']:.4f} "
        f"acc {_fmt(record['train_acc'])}"
    )
    if record["val_loss"] is not None:
        line += f"  val loss {record['val_loss']:.4f} acc {_fmt(record['val_acc'])}"
    return (
        line + f"  lr {record['lr']:.2g}  {record['samples_per_s']:.0f} samples/s"
        f"  {record['seconds']:.1f}s"
    )


# --------------------------------------------------------------------------- checkpoints


def _atomic_save(obj: dict, path: Path) -> None:
    """torch.save to a temporary file beside `path`, then rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _keep_best(model: nn.Module, epoch: int, ckpt_dir: Path | None) -> dict | None:
    """Save the weights to ckpt_dir/best.pt, or without a folder return a CPU copy of them."""
    if ckpt_dir is not None:
        _atomic_save({"epoch": epoch, "model": model.state_dict()}, ckpt_dir / "best.pt")
        return None
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _normalise_config(run_config: dict | None) -> dict:
    """run_config as stored (JSON types: tuples become lists, paths strings)."""
    if run_config is None:
        return {}
    if not isinstance(run_config, dict):
        raise TypeError(f"run_config must be a dict or None, got {type(run_config).__name__}")
    return json.loads(json.dumps(run_config, sort_keys=True, default=str))


def _generators(loader: Iterable | None) -> list[torch.Generator]:
    """The torch generators a DataLoader draws from (its own, its sampler's), in a fixed order."""
    found = [
        getattr(loader, "generator", None),
        getattr(getattr(loader, "sampler", None), "generator", None),
    ]
    return [g for g in found if isinstance(g, torch.Generator)]


def _rng_state(train_loader: Iterable, val_loader: Iterable | None) -> dict:
    """Every random-number state a resumed run needs (numpy's as plain lists)."""
    np_state = np.random.get_state(legacy=False)
    np_state["state"]["key"] = np_state["state"]["key"].tolist()
    return {
        "python": random.getstate(),
        "numpy": np_state,
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "train_loader": [g.get_state() for g in _generators(train_loader)],
        "val_loader": [g.get_state() for g in _generators(val_loader)],
    }


def _set_rng_state(state: dict, train_loader: Iterable, val_loader: Iterable | None) -> None:
    """Inverse of _rng_state."""
    random.setstate(state["python"])
    np_state = dict(state["numpy"])
    np_state["state"] = {
        **np_state["state"],
        "key": np.array(np_state["state"]["key"], dtype=np.uint32),
    }
    np.random.set_state(np_state)
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for loader, key in ((train_loader, "train_loader"), (val_loader, "val_loader")):
        for generator, saved in zip(_generators(loader), state[key], strict=False):
            generator.set_state(saved)


def _load_checkpoint(path: Path, run_config: dict, epochs: int) -> dict:
    """Read last.pt and check that it belongs to this run (same run_config, not more epochs)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unreadable file gets the same advice
        raise RuntimeError(
            f"cannot read checkpoint {path} ({err}); delete it or pass resume=False to start afresh"
        ) from err
    saved = ckpt.get("run_config") or {}
    differing = sorted(
        k
        for k in saved.keys() | run_config.keys()
        if saved.get(k, "<missing>") != run_config.get(k, "<missing>")
    )
    if differing:
        details = "; ".join(
            f"{k}: saved {saved.get(k, '<missing>')!r}, now {run_config.get(k, '<missing>')!r}"
            for k in differing
        )
        raise ValueError(
            f"checkpoint folder {path.parent} holds a different run (run_config "
            f"differs in {details}). Use another checkpoint_dir, or pass "
            "resume=False to start afresh and overwrite it."
        )
    if ckpt["epoch"] > epochs:
        raise ValueError(
            f"checkpoint folder {path.parent} holds a run of {ckpt['epoch']} epochs, "
            f"more than epochs={epochs}. Use another checkpoint_dir, or pass "
            "resume=False to start afresh."
        )
    return ckpt


def _restore(ckpt: dict, model, optimizer, scheduler, train_loader, val_loader) -> None:
    """Load a checkpoint's weights, optimiser and scheduler state and random-number states."""
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise RuntimeError(
            f"the checkpoint does not fit this model ({err}); use another "
            "checkpoint_dir or pass resume=False"
        ) from err
    optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt["scheduler"] is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    _set_rng_state(ckpt["rng"], train_loader, val_loader)


def _read_best(ckpt_dir: Path, best_epoch: int) -> dict | None:
    """Weights from best.pt, or None (with a warning) when it is missing or from another epoch."""
    path = ckpt_dir / "best.pt"
    best = torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None
    if best is None or best["epoch"] != best_epoch:
        found = "missing" if best is None else f"from epoch {best['epoch']}"
        warnings.warn(
            f"{path} is {found}, not from the best epoch {best_epoch}; "
            "keeping the last epoch's weights",
            stacklevel=3,
        )
        return None
    return best["model"]
