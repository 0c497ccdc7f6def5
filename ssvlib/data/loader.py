"""Batches for training and evaluation: one loader every chapter uses (`make_loader`).

What it guarantees:

- **The same order for the same epoch.** `EpochSampler` shuffles by (seed, epoch); under
  torchrun each process takes its share of every global batch.
- **Epochs reach the workers.** A dataset with `set_epoch` draws its random choices from (seed,
  epoch, index). The loader asks for its samples by (epoch, index) (`AtEpoch`), so worker
  processes that live for the whole run (persistent: not started again at every epoch) draw each
  sample at the epoch the sampler says.
- **Workers start without the parent's decoders.** Worker processes are forked from the
  notebook's process (the platform's default on Linux). A process forked after FFmpeg's scaler
  (swscale) has run inherits its pool of slice threads without the threads, and waits for them
  forever the first time it converts a frame: every chapter did, once its picture cells had
  decoded a real video. `ssvlib.data.decode` therefore sets that state aside in every forked child
  (for any DataLoader, not only this one), and the child makes its own. SSV_WORKER_START=forkserver
  (or spawn) starts workers from a process that never decoded anything instead; it costs 2 to 8 s
  per loader in a notebook, where each worker imports the kernel again, against 0.4 s for a fork
  (measured on 2 cores), so it is not the default. Datasets defined in a notebook or script
  (``__main__``), which such a worker cannot import, are always forked.
- **A stuck worker is named.** A batch that has not come after `loader_timeout()` seconds
  (SSV_LOADER_TIMEOUT, default 300; 0 waits forever) raises `LoaderStuck`, which names each
  worker, its process id, the sample and video it was reading and for how long.

Samples of a training batch made in place of unreadable videos carry their names (`Skipped`);
`collate` gathers them into the batch (`Batch.skipped`) for `ssvlib.train.fit` to record.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import pickle
import random
import shutil
import tempfile
import time
import weakref
from collections.abc import Iterator, Sequence, Sized
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate, get_worker_info

from .. import distributed
from ..config import resolve_device

LOADER_TIMEOUT = 300.0  # seconds without a batch before the loader reports its workers

if hasattr(os, "register_at_fork"):  # a forked worker never collects what it inherited
    os.register_at_fork(after_in_child=gc.freeze)


class LoaderStuck(RuntimeError):
    """A loader waited `loader_timeout()` seconds for a batch; the message names its workers."""


def loader_timeout() -> float:
    """Seconds a loader waits for one batch: $SSV_LOADER_TIMEOUT (0: forever), else 300."""
    value = os.environ.get("SSV_LOADER_TIMEOUT", "").strip()
    if not value:
        return LOADER_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise ValueError(
            f"SSV_LOADER_TIMEOUT={value!r} must be a number of seconds >= 0 (0 waits forever)"
        )
    return seconds


class EpochSampler(Sampler):
    """Shuffles range(n) with a permutation drawn from (seed, epoch): same epoch, same order.

    With `keyed`, it yields (epoch, index) pairs for `AtEpoch` instead of bare indices.
    """

    def __init__(
        self,
        n: int | Sized,
        seed: int = 0,
        shuffle: bool = True,
        *,
        batch_size: int | None = None,
        rank: int = 0,
        world_size: int = 1,
        keyed: bool = False,
    ) -> None:
        super().__init__()
        self.n = n if isinstance(n, int) else len(n)
        if self.n < 0 or seed < 0:
            raise ValueError(
                f"EpochSampler needs n >= 0 and seed >= 0 (got n={self.n}, seed={seed})"
            )
        if world_size > 1 and (batch_size is None or not 0 <= rank < world_size):
            raise ValueError("a sharded EpochSampler needs batch_size and 0 <= rank < world_size")
        self.seed, self.shuffle, self.epoch, self.keyed = seed, shuffle, 0, keyed
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration yields (`fit` calls this)."""
        self.epoch = epoch

    def _order(self) -> list[int]:
        """Every index, in this epoch's order."""
        if not self.shuffle:
            return list(range(self.n))
        return np.random.default_rng((self.seed, self.epoch)).permutation(self.n).tolist()

    def _indices(self) -> list[int]:
        """This process's indices for the epoch."""
        order = self._order()
        if self.world_size == 1:
            return order
        # One process's share: its block of each global batch of batch_size * world_size, so
        # that the processes' batches together are the batch a single process would take.
        share, whole = self.batch_size, self.batch_size * self.world_size
        return [
            index
            for start in range(0, len(order) - whole + 1, whole)
            for index in order[start + self.rank * share : start + (self.rank + 1) * share]
        ]

    def __iter__(self) -> Iterator:
        indices = self._indices()
        if self.keyed:
            return iter([(self.epoch, index) for index in indices])
        return iter(indices)

    def __len__(self) -> int:
        if self.world_size == 1:
            return self.n
        return self.n // (self.batch_size * self.world_size) * self.batch_size


class AtEpoch(Dataset):
    """`dataset` asked for samples by (epoch, index): whichever process holds this copy, a
    dataset with `set_epoch` draws the sample at that epoch. In a worker process it also notes
    in the folder `status` what the worker is reading, for `LoaderStuck`'s message. Any other
    attribute is the dataset's."""

    def __init__(self, dataset: Dataset, status: str | None = None) -> None:
        self.dataset, self.status = dataset, status

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str):
        if name.startswith("__") or "dataset" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def set_epoch(self, epoch: int) -> None:
        """The dataset's `set_epoch`, where it has one."""
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __getitem__(self, key):
        epoch, index = key if isinstance(key, tuple) else (None, key)
        if epoch is not None:
            self.set_epoch(epoch)
        worker = get_worker_info()
        if worker is None or self.status is None:
            return self.dataset[index]
        describe = getattr(self.dataset, "describe_sample", None)
        _note(self.status, worker.id, index=index, what=describe(index) if describe else "")
        sample = self.dataset[index]
        _note(self.status, worker.id)
        return sample


def _note(status: str, worker: int, **reading) -> None:
    """Write what worker `worker` reads now (nothing: it is idle) to its file in `status`."""
    note = {"pid": os.getpid(), "since": time.time(), **reading}
    try:
        Path(status, f"worker-{worker}.json").write_text(json.dumps(note))
    except OSError:  # the notes only serve the report of a stuck loader
        pass


def stuck_report(status: str | Path, num_workers: int, waited: float) -> str:
    """The message of `LoaderStuck`: what each worker was doing when the loader gave up."""
    lines, now = [], time.time()
    for worker in range(num_workers):
        try:
            note = json.loads(Path(status, f"worker-{worker}.json").read_text())
        except (OSError, ValueError):
            lines.append(f"  worker {worker}: no sample started")
            continue
        seconds, pid = now - note["since"], note["pid"]
        if "index" not in note:
            lines.append(f"  worker {worker} (pid {pid}): idle for {seconds:.0f} s")
            continue
        what = f": {note['what']}" if note.get("what") else ""
        lines.append(
            f"  worker {worker} (pid {pid}): reading sample {note['index']}{what} "
            f"for {seconds:.0f} s"
        )
    return (
        f"the data loader waited {waited:.0f} s for a batch and none came. Its workers:\n"
        + "\n".join(lines)
        + "\nA worker that reads one video for minutes is stuck (a decoder waiting for a thread "
        "it does not have, a file on a stalled disk). Check that video with `ssv data check`; "
        "num_workers=0 loads in the main process; SSV_LOADER_TIMEOUT sets the wait (0: forever)."
    )


class Loader(DataLoader):
    """A DataLoader that raises `LoaderStuck` instead of waiting forever for a batch."""

    status: str | None = None

    def __iter__(self):
        batches = super().__iter__()
        return batches if self.num_workers == 0 else self._watched(batches)

    def _watched(self, batches: Iterator) -> Iterator:
        """`batches`, with the DataLoader's timeout turned into a report of its workers."""
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except RuntimeError as err:
                if "timed out" not in str(err) or self.status is None:
                    raise
                raise LoaderStuck(
                    stuck_report(self.status, self.num_workers, self.timeout)
                ) from err
            yield batch


START_METHODS = ("fork", "forkserver", "spawn")


def worker_start(dataset: Dataset) -> str | None:
    """How worker processes start: $SSV_WORKER_START ('fork', 'forkserver' or 'spawn') where the
    platform has it and the dataset can be sent to a fresh process; else None, the platform's
    default (a fork on Linux)."""
    asked = os.environ.get("SSV_WORKER_START", "").strip()
    if not asked:
        return None
    if asked not in START_METHODS:
        raise ValueError(f"SSV_WORKER_START={asked!r} is not one of {START_METHODS}")
    if asked not in multiprocessing.get_all_start_methods():
        return None
    if asked != "fork" and type(dataset).__module__ == "__main__":
        return None  # a fresh process cannot import the notebook or script
    try:
        pickle.dumps(dataset)
    except Exception:
        return None
    return asked


_PRELOAD = ["torch", "ssvlib.data.datasets"]  # imported once by the fork server, not per worker


def seed_worker(worker_id: int) -> None:
    """Seed Python's and NumPy's global generators in a DataLoader worker from its torch seed."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def default_num_workers(device: torch.device) -> int:
    """Loader processes: none on a CPU (the math needs every core), up to 8 beside a GPU."""
    if device.type == "cpu":
        return 0
    return max(0, min(8, (os.cpu_count() or 1) - 1))


class Skipped(tuple):
    """The last entry of a sample made in place of unreadable videos: their paths."""


class Batch(NamedTuple):
    """A training batch: inputs, labels, and the videos skipped as unreadable while making it."""

    inputs: Any
    labels: Any
    skipped: tuple[str, ...] = ()


def collate(samples: Sequence[tuple]) -> Batch | Any:
    """`default_collate`, except that samples ending in `Skipped` give a `Batch` naming them."""
    if not any(isinstance(sample[-1], Skipped) for sample in samples):
        return default_collate(samples)
    skipped = tuple(name for s in samples if isinstance(s[-1], Skipped) for name in s[-1])
    inputs, labels = default_collate([tuple(s[:2]) for s in samples])
    return Batch(inputs, labels, skipped)


def epoch_sampler(size: int, batch_size: int, seed: int, train: bool) -> tuple[EpochSampler, int]:
    """The sampler of a loader and its batch size per process: under torchrun a training loader
    takes this process's share of every global batch of `batch_size`."""
    processes = distributed.world_size()
    if not (train and processes > 1):
        return EpochSampler(size, seed, shuffle=train, keyed=True), batch_size
    if batch_size % processes:
        raise ValueError(
            f"batch_size={batch_size} (the global batch) must divide among the "
            f"{processes} processes; choose a multiple of {processes}"
        )
    batch_size //= processes
    sampler = EpochSampler(
        size, seed, batch_size=batch_size, rank=distributed.rank(), world_size=processes,
        keyed=True,
    )  # fmt: skip
    return sampler, batch_size


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    train: bool,
    device: str | torch.device = "auto",
    num_workers: int | None = None,
    seed: int = 0,
    persistent: bool | None = None,
) -> Loader:
    """The loader every chapter uses: shuffled by (seed, epoch) to train, in order otherwise.

    Training drops the last incomplete batch (unless the dataset is smaller than a batch), and
    names the videos skipped for a batch (`collate`). Under torchrun, `batch_size` is the global
    batch: each process loads its share of it. num_workers=None picks `default_num_workers(device)`;
    memory is pinned for CUDA. With `persistent` (default: to train), the workers live as long as
    the loader, for every epoch; otherwise they stop at the end of each pass. (A persistent
    loader that ends up in a reference cycle, as a notebook's progress bar makes, is shut down
    whenever Python's garbage collector runs, in whatever thread: 5 s per worker, measured.)
    """
    device = resolve_device(device)
    workers = default_num_workers(device) if num_workers is None else num_workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0 or batch_size < 1:
        raise ValueError(
            f"num_workers={workers!r} must be an integer >= 0 (0 loads in the main process) and "
            f"batch_size={batch_size} >= 1"
        )
    sampler, batch_size = epoch_sampler(len(dataset), batch_size, seed, train)
    status, context = None, None
    if workers:
        status = tempfile.mkdtemp(prefix="ssv-loader-")
        context = worker_start(dataset)
        if context == "forkserver":
            multiprocessing.set_forkserver_preload(_PRELOAD)
    loader = Loader(
        AtEpoch(dataset, status),
        batch_size=batch_size,
        sampler=sampler,
        drop_last=train and len(dataset) > batch_size,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(seed),
        collate_fn=collate if train else None,
        persistent_workers=workers > 0 and (train if persistent is None else persistent),
        multiprocessing_context=context,
        timeout=loader_timeout() if workers else 0,
    )
    if status is not None:
        loader.status = status
        weakref.finalize(loader, shutil.rmtree, status, ignore_errors=True)
    return loader
