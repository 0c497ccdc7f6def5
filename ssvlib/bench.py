"""Benchmarks that print numbers (speed targets live here, never in timed tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .data.decode import read_frames, resolve_backend, video_info
from .papers import get_paper
from .tasks.vcop import VCOP


def vcop_indices(num_frames: int, rng: np.random.Generator) -> list[int]:
    """Frame indices of one sample of the paper's VCOP task (3 clips of 16 frames, 8 apart).

    A video shorter than the 64-frame window gives the indices of its first 64 frames, clipped
    to the video (the benchmark times decoding, not the dropping rule).
    """
    task = VCOP()
    if num_frames < task.min_frames:
        return [min(i, num_frames - 1) for i in range(task.min_frames)]
    return [int(i) for element in task.sample(num_frames, rng).elements for i in element]


def decode_whole_video(path: Path) -> np.ndarray:
    """Decode every frame with OpenCV, as the published implementations do (BGR to RGB)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return np.stack(frames)


def bench_decode(
    root: str | Path,
    repeats: int = 3,
    backend: str = "auto",
    limit: int | None = None,
    seed: int = 0,
) -> dict:
    """Compare whole-video decoding with ssvlib's reader on VCOP-shaped samples, one worker.

    Both read the same samples, alternating video by video so that both see the same machine;
    of `repeats` passes, the fastest of each side counts (the least disturbed by other work).
    """
    import cv2

    cv2.setNumThreads(1)
    paths = sorted(Path(root).expanduser().rglob("*.avi"))[:limit]
    if not paths:
        raise FileNotFoundError(
            f"no .avi video under {root}: pass a UCF-101 root or its UCF-101/ folder"
        )
    resolve_backend(backend)  # checks the name; "auto" chooses per video in read_frames
    counts = [video_info(path).num_frames for path in paths]  # cached, as a run's index is
    read_frames(paths[0], [0], backend)  # warm-up: imports and first open
    whole_s, ours_s = [], []
    for _ in range(max(1, repeats)):
        rng, whole, ours = np.random.default_rng(seed), 0.0, 0.0
        for path, count in zip(paths, counts, strict=True):
            indices = vcop_indices(count, rng)
            start = time.perf_counter()
            frames = decode_whole_video(path)
            frames[[min(i, len(frames) - 1) for i in indices]]
            middle = time.perf_counter()
            read_frames(path, indices, backend)
            whole += middle - start
            ours += time.perf_counter() - middle
        whole_s.append(whole)
        ours_s.append(ours)
    whole_rate, ours_rate = len(paths) / min(whole_s), len(paths) / min(ours_s)
    return {
        "videos": len(paths),
        "passes": max(1, repeats),
        "sample": "3 clips x 16 frames, 8 frames apart",
        "backend": backend,
        "whole_video_samples_per_s": round(whole_rate, 2),
        "ssvlib_samples_per_s": round(ours_rate, 2),
        "ratio": round(ours_rate / whole_rate, 2),
    }


def present_videos(root: str | Path, dataset: str = "ucf101", split: int = 1) -> list:
    """Every present video of a root's official split, training and test (any number)."""
    from .data.index import present
    from .data.videos import load_index

    index = load_index(dataset, root, split)
    records = present(index.train + index.test)
    if not records:
        raise FileNotFoundError(
            f"no video of {dataset} split {split} is present under {root}: run "
            f"`ssv data check {root} --dataset {dataset}`"
        )
    return records


class _Timed:
    """Wraps a function and adds the seconds spent in it to `seconds`."""

    def __init__(self, function: Callable) -> None:
        self.function, self.seconds = function, 0.0

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


def _loader_pass(data, order: list[int], frames_of: Callable, batch_size: int, cached=None) -> dict:
    """One pass over `order`: seconds of decoding alone, of the dataset (and of decoding inside
    it), of collating its samples batch by batch, and of the `cached` dataset's samples (with
    their collating), alternating sample by sample."""
    from torch.utils.data import default_collate

    from .data import decode

    timed = _Timed(decode.read_frames)
    seconds = {"decode_only": 0.0, "dataset": 0.0, "collate": 0.0, "cached": 0.0}
    made, made_cached = [], []
    decode.read_frames = timed
    try:
        for n, i in enumerate(order, start=1):  # alternating: all see the same machine
            start = time.perf_counter()
            timed.function(data.records[i].path, frames_of(i))
            middle = time.perf_counter()
            made.append(data[i])
            seconds["decode_only"] += middle - start
            seconds["dataset"] += time.perf_counter() - middle
            if cached is not None:
                decoding = timed.seconds
                start = time.perf_counter()
                made_cached.append(cached[i])
                seconds["cached"] += time.perf_counter() - start
                timed.seconds = decoding  # the decoding split is the on-the-fly dataset's
            if len(made) == batch_size or n == len(order):
                start = time.perf_counter()
                default_collate(made)  # then dropped, as a loader hands it on
                middle = time.perf_counter()
                if made_cached:
                    default_collate(made_cached)
                seconds["collate"] += middle - start
                seconds["cached"] += time.perf_counter() - middle
                made, made_cached = [], []
    finally:
        decode.read_frames = timed.function
    return {**seconds, "decode": timed.seconds}


def bench_loader(
    root: str | Path,
    paper: str = "vcop",
    preset: str = "paper",
    *,
    dataset: str = "ucf101",
    cache: str | Path | None = None,
    samples: int = 64,
    passes: int = 3,
    seed: int = 0,
) -> dict:
    """Per-core samples/s of a paper's pretext dataset against decoding its frames alone.

    Both sides draw the same samples (the task's sampler on the same generators) from the
    present videos of `root`, in one process on one thread, alternating sample by sample; the
    fastest of `passes` passes counts for each side. The dataset's time is split into decoding
    (inside the reader), the rest of making a sample (sampling, motion lookup, crop, resize,
    mirror, layout: "transforms") and collating batches of the preset's size. Motion curves
    (motion-aware tasks) are computed before timing, as a run's first epoch does. With `cache`
    (a folder made by `ssv data cache`), the same samples are also made from the cached videos,
    and their rate is compared with the on-the-fly dataset's.
    """
    import cv2
    import torch

    from .data import datasets

    cv2.setNumThreads(1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        recipe = get_paper(paper).presets[preset]
        records = present_videos(root, dataset)
        data = datasets.TupleDataset(
            records, recipe.task, recipe.view, train=True, seed=seed, motion=recipe.motion
        )
        order = [i % len(data) for i in range(samples)]
        motions = {}
        if recipe.motion and recipe.task.motion_aware:
            from .data.motion import video_motion

            for i in sorted(set(order)):
                motions[i] = video_motion(data.records[i].path, recipe.motion)

        def frames_of(i: int) -> list[int]:
            elements, _ = recipe.task.sample(data.num_frames[i], data.rng(i), motions.get(i))
            return sorted({int(f) for element in elements for f in element})

        cached = None
        if cache is not None:
            cached = datasets.TupleDataset(
                cached_records(data.records, root, cache, dataset), recipe.task, recipe.view,
                train=True, seed=seed, motion=recipe.motion,
            )  # fmt: skip
        for i in sorted(set(order)):  # warm-up: imports, first opens, the file cache
            data[i]
            if cached is not None:
                cached[i]
        batch = recipe.pretext.batch_size
        runs = [_loader_pass(data, order, frames_of, batch, cached) for _ in range(passes)]
    finally:
        torch.set_num_threads(threads)
    decode_only = min(run["decode_only"] for run in runs)
    best = min(runs, key=lambda run: run["dataset"] + run["collate"])
    total = best["dataset"] + best["collate"]
    extra = {}
    if cached is not None:
        fastest = min(run["cached"] for run in runs)
        extra = {
            "cache": str(cache),
            "cached_samples_per_s": round(samples / fastest, 2),
            "cache_speedup": round(total / fastest, 2),
        }
    return {
        "paper": paper,
        "preset": preset,
        "dataset": dataset,
        "videos": len(data),
        "samples": samples,
        "passes": passes,
        "frames_per_sample": len(frames_of(order[0])),
        "decode_only_samples_per_s": round(samples / decode_only, 2),
        "dataset_samples_per_s": round(samples / total, 2),
        "ratio": round(decode_only / total, 2),
        "ms_per_sample": {
            "decode": round(1000 * best["decode"] / samples, 2),
            "transforms": round(1000 * (best["dataset"] - best["decode"]) / samples, 2),
            "collate": round(1000 * best["collate"] / samples, 2),
        },
        **extra,
    }


def cached_records(records: list, root: str | Path, cache: str | Path, dataset: str) -> list:
    """The same videos in a cache made by `ssv data cache` from `root` (checked to be there)."""
    import dataclasses

    from .data.cache import LAYOUTS

    folder = Path(cache).expanduser().resolve() / LAYOUTS[dataset][0]
    moved = [dataclasses.replace(r, path=folder / r.rel) for r in records]
    absent = [r.rel for r in moved if not r.path.is_file()]
    if absent:
        raise FileNotFoundError(
            f"{len(absent)} videos of {root} are not in the cache {cache}, e.g. {absent[0]}: "
            f"run `ssv data cache {root} {cache}` first"
        )
    return moved


# --------------------------------------------------------------------------- ssv bench train


def pretext_setup(
    paper: str, preset: str, backbone: str | None, dataset: str, root, device: str, seed: int = 0
):
    """The chapter's recipe, videos and pretext network for these parameters, opened and built
    as `Chapter.open` and `Chapter.model` do (`ssvlib.prepare`): (opened run, model)."""
    import contextlib
    import io

    from .prepare import new_model, open_run
    from .settings import RunParameters

    params = RunParameters(
        dataset=dataset, data_root=None if root is None else str(root), backbone=backbone,
        preset=preset, device=device, seed=seed,
    )  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):  # a JSON line is all `ssv bench` prints
        run = open_run(paper, params)
    model, _ = new_model(run.paper, run.recipe, run.params.backbone, seed)
    return run, model


class _Watched:
    """The first `limit` batches of a loader's epoch `epoch`, noting when each was asked for, how
    long it was waited for and its size; `fit` takes it as its loader."""

    def __init__(self, loader, limit: int, epoch: int = 0) -> None:
        self.loader, self.limit, self.epoch, self.dataset = loader, limit, epoch, loader.dataset
        self.asked, self.waits, self.sizes, self.end = [], [], [], 0.0

    def __len__(self) -> int:
        return self.limit

    def __iter__(self):
        self.loader.sampler.set_epoch(self.epoch)
        batches = iter(self.loader)
        for _ in range(self.limit):
            asked = time.perf_counter()
            batch = next(batches)
            self.asked.append(asked)
            self.waits.append(time.perf_counter() - asked)
            self.sizes.append(len(batch[1]))
            yield batch
        self.end = time.perf_counter()  # the consumer asked for one more: the last step is done

    def rate(self, skip: int) -> float:
        """Samples per second after the first `skip` batches."""
        return sum(self.sizes[skip:]) / (self.end - self.asked[skip])

    def wait_share(self, skip: int) -> float:
        """The share of the time after the first `skip` batches spent waiting for batches."""
        return sum(self.waits[skip:]) / (self.end - self.asked[skip])


def _sync(device) -> None:
    """Wait for the device's queued work (CUDA), so that the clock reads what it did."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_rate(model, recipe, shape: tuple, device, *, bf16: bool, warmup: int, steps: int) -> float:
    """Samples/s of `model`'s training step alone (forward, backward, optimiser step, as `fit`
    takes it) on random uint8 batches of `shape` already on `device`; warm-up steps excluded."""
    import torch

    from .train import make_optimizer

    batch = recipe.pretext.batch_size
    x = torch.randint(0, 256, (batch, *shape), dtype=torch.uint8, device=device)
    y = torch.randint(0, recipe.task.num_classes, (batch,), device=device)
    optimizer = make_optimizer(model.parameters(), recipe.pretext.optim)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.to(device).train()
    for n in range(warmup + steps):
        if n == warmup:
            _sync(device)
            start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()  # as `fit` does at every step
    _sync(device)
    return batch * steps / (time.perf_counter() - start)


def _peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak resident memory of a process (Linux: VmHWM; this process elsewhere: ru_maxrss), MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10
    except OSError:
        pass
    if pid != "self":
        return None
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB; bytes on macOS
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def _reset_peak_rss() -> None:
    """Start this process's peak resident size afresh (Linux; elsewhere it counts from start)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _worker_pids(loader) -> list[int]:
    """The process ids of a loader's persistent workers (none when it loads in-process)."""
    workers = getattr(getattr(loader, "_iterator", None), "_workers", None) or []
    return [w.pid for w in workers if w.pid is not None]


def _cuda_peak_mb(device, reset: bool = False) -> float | None:
    """torch.cuda.max_memory_allocated in MiB (None off CUDA); `reset` starts a new peak after."""
    import torch

    if device.type != "cuda":
        return None
    peak = torch.cuda.max_memory_allocated(device) / 2**20
    if reset:
        torch.cuda.reset_peak_memory_stats(device)
    return peak


def bench_train(
    paper: str,
    preset: str = "cpu",
    *,
    backbone: str | None = None,
    device: str = "auto",
    workers: int | None = None,
    steps: int = 20,
    warmup: int = 3,
    root: str | Path | None = None,
    dataset: str | None = None,
    seed: int = 0,
) -> dict:
    """A paper's pretext training, in parts: the model's step alone on synthetic batches (bf16
    and fp32 on CUDA), the loader alone with `workers` processes, and a short `fit` with both
    (with the share of its time spent waiting for batches); each over `steps` batches after
    `warmup` uncounted ones. Peak memory: CUDA's allocator, or on a CPU the peak resident size
    of this process plus each loader worker's."""
    from .config import resolve_device
    from .data.datasets import TupleDataset
    from .data.loader import default_num_workers, make_loader
    from .pretrain import balanced_loss
    from .sweep import machine
    from .train import Trainer, fit, make_optimizer

    if steps < 1 or warmup < 0:
        raise ValueError(f"need steps >= 1 and warmup >= 0 (got {steps} and {warmup})")
    dev = resolve_device(device)
    dataset = dataset or ("ucf101" if root is not None else "builtin")
    opened, model = pretext_setup(paper, preset, backbone, dataset, root, str(dev), seed)
    recipe, batch = opened.recipe, opened.recipe.pretext.batch_size
    videos = opened.videos.fit
    # Enough samples for every batch in one epoch, as the full dataset has: with fewer videos
    # than a batch, one worker would make each epoch's single batch while the others wait.
    copies = -(-(warmup + steps) * batch // len(videos))
    data = TupleDataset(
        videos * copies, recipe.task, recipe.view, train=True, seed=seed, motion=recipe.motion
    )
    shape = tuple(data[0][0].shape)
    workers = default_num_workers(dev) if workers is None else workers
    rates, memory = {}, {}
    _cuda_peak_mb(dev, reset=True)
    _reset_peak_rss()  # for `--paper all`: this paper's peak, not the process's
    for precision in ("bf16", "fp32") if dev.type == "cuda" else ("fp32",):
        bf16 = precision == "bf16"
        rate = step_rate(model, recipe, shape, dev, bf16=bf16, warmup=warmup, steps=steps)
        rates[precision] = round(rate, 2)
        memory[f"step_{precision}"] = _cuda_peak_mb(dev, reset=True)
    loader = make_loader(data, batch, train=True, device=dev, num_workers=workers, seed=seed)
    loading = _Watched(loader, warmup + steps)
    for _ in loading:
        pass
    feeding = _Watched(loader, warmup + steps, epoch=1)
    loss_fn = balanced_loss(recipe.task) if recipe.pretext.balance_classes else None
    trainer = Trainer(
        make_optimizer(model.parameters(), recipe.pretext.optim), device=dev, loss_fn=loss_fn,
        progress=False,
    )  # fmt: skip
    fit(model, feeding, None, 1, trainer)
    if dev.type == "cuda":
        memory["fit"] = _cuda_peak_mb(dev)
        peak, source = max(memory.values()), "torch.cuda.max_memory_allocated"
    else:
        worker_peaks = [_peak_rss_mb(pid) or 0.0 for pid in _worker_pids(loader)]
        memory = {"main_process": _peak_rss_mb(), "loader_workers": sum(worker_peaks)}
        source = "peak resident size: this process + loader workers (an upper bound)"
        peak = sum(memory.values())  # a forked worker's shared pages count in both
    del loader
    host = machine()
    return {
        "paper": paper,
        "preset": preset,
        "backbone": opened.params.backbone,
        "device": str(dev),
        "dataset": dataset,
        "train_videos": len(data) // copies,  # long enough for a sample
        "batch_size": batch,
        "input_shape": list(shape),
        "workers": workers,
        "steps": steps,
        "warmup_steps": warmup,
        "step_samples_per_s": rates,
        "loader_samples_per_s": round(loading.rate(warmup), 2),
        "fit_samples_per_s": round(feeding.rate(warmup), 2),
        "fit_data_wait_share": round(feeding.wait_share(warmup), 4),
        "fit_precision": "bf16" if dev.type == "cuda" else "fp32",
        "peak_memory_mb": round(peak, 1),
        "peak_memory_source": source,
        "peak_memory_mb_parts": {k: round(v, 1) for k, v in memory.items()},
        "torch": host["torch"],
        "machine": host,
    }
