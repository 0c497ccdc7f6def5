"""Checkpoints of a training run: what identifies it, what `fit` writes after every epoch.

A run folder holds ``last.pt`` (model, optimiser, scheduler, history, run_config and every
random-number state: enough to continue after that epoch) and, with a validation set, ``best.pt``
(the weights of the best epoch). Files are written atomically, so a stopped run loses at most the
epoch in progress. A checkpoint whose run_config differs belongs to another run and is refused.
"""

from __future__ import annotations

import hashlib
import json
import random
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .files import atomic_write


def videos_digest(records: Sequence) -> str:
    """A short hash of which videos a run uses (their paths), for the run folder's name."""
    names = "\n".join(str(r.path) for r in records)
    return hashlib.sha1(names.encode()).hexdigest()[:12]


def weights_fingerprint(model: nn.Module) -> str:
    """A short summary of a model's weights: tells a pretrained start from a random one."""
    with torch.no_grad():
        total = sum(
            float(p.double().abs().sum())
            for p in model.state_dict().values()
            if p.is_floating_point()
        )
    return f"{total:.6e}"


def save(obj: dict, path: Path) -> None:
    """torch.save through a temporary file: never a half-written checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def normalise_config(run_config: dict | None) -> dict:
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


def rng_state(train_loader: Iterable, val_loader: Iterable | None) -> dict:
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


def set_rng_state(state: dict, train_loader: Iterable, val_loader: Iterable | None) -> None:
    """Inverse of rng_state."""
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


def load_last(path: Path, run_config: dict, epochs: int) -> dict:
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


def restore(ckpt: dict, model, optimizer, scheduler, train_loader, val_loader) -> None:
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
    set_rng_state(ckpt["rng"], train_loader, val_loader)


def keep_best(model: nn.Module, epoch: int, folder: Path | None) -> dict | None:
    """Save the weights to folder/best.pt, or without a folder return a CPU copy of them."""
    if folder is not None:
        save({"epoch": epoch, "model": model.state_dict()}, folder / "best.pt")
        return None
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def read_best(folder: Path, best_epoch: int) -> dict | None:
    """Weights from best.pt, or None (with a warning) when it is missing or from another epoch."""
    path = folder / "best.pt"
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
