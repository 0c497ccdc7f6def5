"""Runs and sweeps: notebooks executed by papermill over a grid of parameters, in parallel.

A sweep file (YAML) names the notebooks, a grid and fixed parameters::

    notebooks: [01_shuffle_and_learn, 02_opn, 03_o3n, 04_vcop]   # in notebooks/
    grid: {seed: [0, 1, 2]}                                       # every combination
    parameters: {}                                                # the same for every run
    workers: 2                                                    # runs at once
    out: comparison                                               # beside the sweep file

`run_sweep(FILE)` (``ssv sweep FILE``, ``make results``) runs every notebook with every grid
point: each run gets a folder ``OUT/<notebook>__<key>-<value>...`` holding the executed notebook,
its results file (the notebook's `results_dir` points there) and papermill's log. A run whose
folder already holds a results file is skipped, so an interrupted sweep resumes. Each run's
process gets ``cpu_count // workers`` threads (OMP_NUM_THREADS): the numbers a run measures
depend on its thread count, so the manifest ``OUT/sweep.json`` records it with the command, the
commit, the machine and every run's status and time.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .files import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
MANIFEST = "sweep.json"
KEYS = ("notebooks", "grid", "parameters", "workers", "out")


class SweepError(ValueError):
    """A sweep file names an unknown notebook or key, or a run failed."""


@dataclass(frozen=True)
class Run:
    """One notebook with one set of parameters, and the folder it writes."""

    notebook: str
    parameters: dict
    folder: Path

    @property
    def name(self) -> str:
        """The folder's name, e.g. '04_vcop__seed-1'."""
        return self.folder.name

    def done(self) -> bool:
        """True once the run's results file exists."""
        return any(self.folder.glob("*.json"))


@dataclass
class Sweep:
    """The runs of a sweep file, where they go, and how many run at once."""

    file: Path
    runs: list[Run]
    out: Path
    workers: int
    spec: dict = field(default_factory=dict)


def _value_name(value) -> str:
    """A parameter value as it appears in a folder name."""
    return str(value).replace("/", "_").replace(" ", "")


def load_sweep(
    file: str | Path,
    out: str | Path | None = None,
    workers: int | None = None,
    grid: dict | None = None,
) -> Sweep:
    """Read a sweep file; check its keys and notebooks; expand the grid (or `grid`, which
    replaces the file's) into runs."""
    import yaml

    file = Path(file).expanduser().resolve()
    spec = yaml.safe_load(file.read_text()) or {}
    if grid is not None:
        spec["grid"] = grid
    unknown = set(spec) - set(KEYS)
    if unknown:
        raise SweepError(f"{file}: unknown keys {sorted(unknown)}; a sweep file has {KEYS}")
    notebooks = spec.get("notebooks") or []
    if not notebooks:
        raise SweepError(f"{file}: `notebooks` lists none; name them as in notebooks/")
    missing = [n for n in notebooks if not (NOTEBOOKS / f"{n}.ipynb").is_file()]
    if missing:
        found = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
        raise SweepError(f"{file}: no notebook {missing} in {NOTEBOOKS}; there are {found}")
    grid = spec.get("grid") or {}
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SweepError(f"{file}: grid `{key}` must be a non-empty list, got {values!r}")
    fixed = spec.get("parameters") or {}
    clash = set(fixed) & set(grid)
    if clash or "results_dir" in set(fixed) | set(grid):
        raise SweepError(
            f"{file}: {sorted(clash) or ['results_dir']} cannot be set there (results_dir is "
            "each run's folder; a key is either fixed or in the grid)"
        )
    out = Path(out) if out is not None else file.parent / spec.get("out", file.stem)
    out = out.expanduser().resolve()
    runs = []
    for notebook in notebooks:
        for point in itertools.product(*grid.values()):
            varied = dict(zip(grid, point, strict=True))
            suffix = "".join(f"__{k}-{_value_name(v)}" for k, v in varied.items())
            runs.append(Run(notebook, {**fixed, **varied}, out / f"{notebook}{suffix}"))
    workers = int(workers or spec.get("workers") or 1)
    if workers < 1:
        raise SweepError(f"workers={workers}: at least one run must run at a time")
    return Sweep(file, runs, out, workers, spec)


def _commit() -> str | None:
    """The repository's commit, with '-dirty' when files differ from it (None outside git)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("-dirty" if dirty else "")


def machine() -> dict:
    """What the numbers depend on: CPU, cores, GPU, Python and torch."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


def _papermill(run: Run, threads: int) -> tuple[bool, float, str]:
    """Execute one run with papermill; (succeeded, seconds, the log's last lines)."""
    run.folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "papermill", str(NOTEBOOKS / f"{run.notebook}.ipynb"),
        str(run.folder / f"{run.notebook}.ipynb"), "--cwd", str(NOTEBOOKS),
        "-p", "results_dir", str(run.folder),
    ]  # fmt: skip
    for key, value in run.parameters.items():  # papermill reads 1, 0.5, True, None as such
        command += ["-p", key, str(value)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    with open(run.folder / "papermill.log", "w") as log:
        result = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    tail = (run.folder / "papermill.log").read_text(errors="replace")[-2000:]
    return result.returncode == 0 and run.done(), time.perf_counter() - started, tail


def run_sweep(
    file: str | Path,
    *,
    out: str | Path | None = None,
    workers: int | None = None,
    progress: bool = True,
    command: str | None = None,
    grid: dict | None = None,
) -> dict:
    """Run every run of the sweep file not yet done; return (and write) the manifest.

    Raises SweepError naming the failed runs (and their logs) after the others have finished.
    """
    from tqdm.auto import tqdm

    sweep = load_sweep(file, out, workers, grid)
    sweep.out.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // sweep.workers)
    path = sweep.out / MANIFEST
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    manifest.update(
        {
            "command": command or f"ssv sweep {sweep.file}",
            "sweep_file": sweep.spec,
            "commit": _commit(),
            "machine": machine(),
            "workers": sweep.workers,
            "threads_per_run": threads,
            "smoke": os.environ.get("SSV_SMOKE", "") not in ("", "0"),
        }
    )  # fmt: skip
    manifest.setdefault("runs", {})
    lock = threading.Lock()

    def save() -> None:
        atomic_write_text(path, json.dumps(manifest, indent=2, default=str) + "\n")

    def one(run: Run) -> None:
        if run.done():
            status = {"status": "done before", "parameters": run.parameters}
        else:
            ok, seconds, tail = _papermill(run, threads)
            status = {"status": "done" if ok else "failed", "seconds": round(seconds, 1),
                      "parameters": run.parameters, "commit": manifest["commit"]}  # fmt: skip
            if not ok:
                status["log_tail"] = tail
        with lock:
            old = manifest["runs"].get(run.name, {})
            manifest["runs"][run.name] = (
                {**old, **status} if status["status"] == "done before" else status
            )
            save()

    save()
    with ThreadPoolExecutor(sweep.workers) as pool:
        bar = tqdm(
            total=len(sweep.runs), desc="sweep", unit="run", disable=not progress, leave=False
        )
        for _ in pool.map(one, sweep.runs):
            bar.update()
        bar.close()
    failed = [name for name, run in manifest["runs"].items() if run["status"] == "failed"]
    if failed:
        logs = ", ".join(str(sweep.out / name / "papermill.log") for name in failed)
        raise SweepError(f"{len(failed)} of {len(sweep.runs)} runs failed: {failed}; see {logs}")
    return manifest


def sweep_records(folder: str | Path) -> list[dict]:
    """The results records of every run of a sweep folder (`results.load_results` on each)."""
    from .results import load_results

    folder = Path(folder)
    return [record for run in sorted(p for p in folder.iterdir() if p.is_dir())
            for record in load_results(run)]  # fmt: skip
