"""Runs and sweeps: notebooks executed by papermill over a grid of parameters, here or on Slurm.

A sweep file (YAML) names the notebooks, a grid and fixed parameters::

    notebooks: [01_shuffle_and_learn, 02_opn, 03_o3n, 04_vcop]   # in notebooks/; an entry
                                                 # {04_vcop: {epochs: 320}} fixes its own values
    grid: {seed: [0, 1, 2]}                                       # every combination
    parameters: {}                                                # the same for every run
    workers: 2                                                    # runs at once
    out: comparison                                               # beside the sweep file
    slurm: {partition: gpu, gpus_per_run: 1}                      # only with --slurm

`run_sweep(FILE)` (``ssv sweep FILE``, ``make results``) runs every notebook with every grid
point: each run gets a folder ``OUT/<notebook>__<key>-<value>...`` holding the executed notebook,
its results file (the notebook's `results_dir` points there) and papermill's log. A run whose
folder already holds a results file is skipped, so an interrupted sweep resumes. Each run's
process gets ``cpu_count // workers`` threads (OMP_NUM_THREADS): the numbers a run measures
depend on its thread count, so the manifest ``OUT/sweep.json`` records it with the command, the
commit, the machine and every run's status, time, executor and job id. Failed runs are named
with their logs at the end (`RunsFailed`); the others run to the end first.

Every run is a job of a submitit executor (https://github.com/facebookincubator/submitit), the
same job function and bookkeeping here and on a cluster. Here, a `submitit.LocalExecutor` starts
each run as a process of its own, `workers` at a time. Two of its defaults would change what a
run sees, so the sweep overrides them: a time limit of 2 minutes (a sweep sets a week) and
``CUDA_VISIBLE_DEVICES=""`` (the job puts back the shell's value, so runs see the GPUs they saw
before). With ``--slurm`` (``run_sweep(FILE, slurm={...})``) a `submitit.SlurmExecutor` submits
the runs as one job array, `workers` of its jobs at once, and waits for them; the settings
(`SLURM_KEYS`: partition, GPUs, CPUs and time per run, a day unless set, other sbatch options)
come from the sweep file's ``slurm:`` and the command line, which wins. A Slurm run's threads
are its CPUs. OUT must be on a file system the nodes share. submitit's own files go to
``OUT/.submitit/``, removed once a sweep ends with no failed run. Stopping a sweep (Ctrl-C)
cancels the jobs it started.

Everything that can be checked is checked before the first run starts, each problem one line
(`SweepError`): the file's YAML and keys, the notebooks, and that every grid and ``parameters``
key is a parameter of every notebook (papermill lists them); otherwise papermill would only warn
while each run silently used the default.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from .files import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
MANIFEST = "sweep.json"
KEYS = ("notebooks", "grid", "parameters", "workers", "out", "slurm")
SLURM_KEYS = ("partition", "gpus_per_run", "cpus_per_run", "timeout_min", "args")
SUBMITIT_DIR = ".submitit"
LOCAL_TIMEOUT_MIN = 7 * 24 * 60  # local runs have no time limit, in effect
SLURM_TIMEOUT_MIN = 24 * 60  # a Slurm job needs one; --timeout-min changes it
MANAGED_SBATCH = ("array", "output", "error")  # submitit writes these itself
POLL_S = 0.5  # seconds between looks at local jobs
SLURM_POLL_S = 10.0  # and at Slurm's, whose files may be on a network file system


class SweepError(ValueError):
    """A sweep cannot start: its file, a notebook, a parameter or a Slurm setting is wrong."""


class RunsFailed(SweepError):
    """Some runs of a sweep failed (the others ran to the end)."""


@dataclass(frozen=True)
class Run:
    """One notebook with one set of parameters, and the folder it writes."""

    notebook: str
    parameters: dict
    folder: Path
    source: Path

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
    slurm: dict = field(default_factory=dict)


def _value_name(value) -> str:
    """A parameter value as it appears in a folder name."""
    return str(value).replace("/", "_").replace(" ", "")


def _read_spec(file: Path) -> dict:
    """The sweep file's mapping; a missing file or bad YAML is a one-line SweepError."""
    import yaml

    try:
        text = file.read_text()
    except FileNotFoundError:
        raise SweepError(f"{file}: no such sweep file") from None
    except OSError as err:
        raise SweepError(f"{file}: cannot read it ({err.strerror})") from None
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        raise SweepError(f"{file}: not valid YAML: {problem}{where}") from None
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise SweepError(f"{file}: a sweep file is a mapping with keys {KEYS}, not {spec!r:.60}")
    return spec


def _check_parameters(file: Path, sources: dict[str, Path], keys: list[str]) -> None:
    """Every key a parameter of every notebook, and each notebook with a `results_dir`."""
    import papermill

    for notebook, source in sources.items():
        valid = list(papermill.inspect_notebook(str(source)))
        if "results_dir" not in valid:
            raise SweepError(
                f"{file}: {notebook} has no `results_dir` parameter, where a sweep puts its results"
            )
        unknown = [key for key in keys if key not in valid]
        if unknown:
            raise SweepError(
                f"{file}: `{unknown[0]}` is not a parameter of {notebook}; its parameters are "
                f"{', '.join(valid)}"
            )


def _positive(where: str, key: str, value, least: int) -> int:
    """`value` as an int of at least `least`, or a SweepError naming the setting."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SweepError(f"{where}: `{key}` must be a whole number, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise SweepError(f"{where}: `{key}` must be a whole number, got {value!r}") from None
    if number < least:
        raise SweepError(f"{where}: `{key}` must be at least {least}, got {number}")
    return number


def check_slurm(settings: dict | None, where: str = "slurm") -> dict:
    """Slurm settings checked and normalised (`SLURM_KEYS`; `args` a mapping of sbatch options)."""
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(SLURM_KEYS))
    if unknown:
        raise SweepError(f"{where}: unknown slurm settings {unknown}; there are {SLURM_KEYS}")
    least = {"gpus_per_run": 0, "cpus_per_run": 1, "timeout_min": 1}
    for key, low in least.items():
        if settings.get(key) is not None:
            settings[key] = _positive(where, key, settings[key], low)
    args = settings.get("args") or {}
    if not isinstance(args, dict):
        raise SweepError(f"{where}: slurm `args` must map sbatch options to values, got {args!r}")
    args = {str(k).lstrip("-"): v if v is True else str(v) for k, v in args.items()}
    managed = [k for k in args if k.replace("_", "-") in MANAGED_SBATCH]
    if managed:
        raise SweepError(f"{where}: sbatch option {managed[0]} is set by the sweep itself")
    settings["args"] = args
    return settings


def parse_slurm_args(pairs: list[str] | None) -> dict:
    """['account=lab', 'qos=high'] (`--slurm-arg KEY=VALUE`) as {'account': 'lab', ...}."""
    args = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip("-"):
            raise SweepError(f"--slurm-arg {pair}: give an sbatch option as KEY=VALUE")
        args[key.strip().lstrip("-")] = value
    return args


def merge_slurm(from_file: dict, flags: dict | None) -> dict:
    """The file's Slurm settings with the command line's on top (flags set to None do not count)."""
    flags = check_slurm({k: v for k, v in (flags or {}).items() if v is not None}, "command line")
    merged = {**from_file, **{k: v for k, v in flags.items() if k != "args"}}
    merged["args"] = {**from_file.get("args", {}), **flags["args"]}
    return merged


def load_sweep(
    file: str | Path,
    out: str | Path | None = None,
    workers: int | None = None,
    grid: dict | None = None,
) -> Sweep:
    """Read a sweep file; check its keys, notebooks and parameters; expand the grid (or `grid`,
    which replaces the file's) into runs."""
    file = Path(file).expanduser().resolve()
    spec = _read_spec(file)
    if grid is not None:
        spec["grid"] = grid
    unknown = set(spec) - set(KEYS)
    if unknown:
        raise SweepError(f"{file}: unknown keys {sorted(unknown)}; a sweep file has {KEYS}")
    own = _notebooks(file, spec.get("notebooks"))
    notebooks = list(own)
    sources = {n: NOTEBOOKS / f"{n}.ipynb" for n in notebooks}
    missing = [n for n, source in sources.items() if not source.is_file()]
    if missing:
        found = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
        raise SweepError(f"{file}: no notebook {missing} in {NOTEBOOKS}; there are {found}")
    grid = spec.get("grid") or {}
    fixed = spec.get("parameters") or {}
    for key, value in (("grid", grid), ("parameters", fixed)):
        if not isinstance(value, dict):
            raise SweepError(f"{file}: `{key}` must map parameter names to values, got {value!r}")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SweepError(f"{file}: grid `{key}` must be a non-empty list, got {values!r}")
    for given in (fixed, *own.values()):
        clash = set(given) & (set(grid) | (set(fixed) if given is not fixed else set()))
        if clash or "results_dir" in set(given) | set(grid):
            raise SweepError(
                f"{file}: {sorted(clash) or ['results_dir']} cannot be set there (results_dir is "
                "each run's folder; a key is fixed, fixed for one notebook, or in the grid)"
            )
    for notebook, source in sources.items():
        _check_parameters(file, {notebook: source}, [*fixed, *own[notebook], *grid])
    slurm = check_slurm(spec.get("slurm"), f"{file}: slurm")
    workers = _positive(f"{file}", "workers", workers or spec.get("workers") or 1, 1)
    out = Path(out) if out is not None else file.parent / spec.get("out", file.stem)
    out = out.expanduser().resolve()
    runs = []
    for notebook in notebooks:
        for point in itertools.product(*grid.values()):
            varied = {**own[notebook], **dict(zip(grid, point, strict=True))}
            suffix = "".join(f"__{k}-{_value_name(v)}" for k, v in varied.items())
            folder = out / f"{notebook}{suffix}"
            runs.append(Run(notebook, {**fixed, **varied}, folder, sources[notebook]))
    return Sweep(file, runs, out, workers, spec, slurm)


def _notebooks(file: Path, entries) -> dict[str, dict]:
    """`notebooks` as {name: its own fixed parameters}: each entry a name, or a mapping of one
    name to the parameters only its runs take (they show in the runs' folder names). The entry
    `papers` stands for every paper's chapter (`ssvlib.papers.PAPERS`), in the book's order."""
    from .papers import PAPERS

    if entries == "papers":
        entries = [paper.notebook for paper in PAPERS.values()]
    if not isinstance(entries, list) or not entries:
        raise SweepError(f"{file}: `notebooks` lists none; name them as in notebooks/")
    found = {}
    for entry in entries:
        if isinstance(entry, str):
            found[entry] = {}
        elif isinstance(entry, dict) and len(entry) == 1:
            [(name, given)] = entry.items()
            if not isinstance(given, dict):
                raise SweepError(f"{file}: {name}'s parameters must be a mapping, got {given!r}")
            found[str(name)] = given
        else:
            raise SweepError(
                f"{file}: a `notebooks` entry is a name or {{name: {{parameter: value}}}}, "
                f"got {entry!r}"
            )
    return found


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
    """What the numbers depend on: CPU, cores, GPU, Python, torch and the CPU kernels it uses."""
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
        "cpu_kernels": torch.backends.cpu.get_cpu_capability(),  # "AVX2", "AVX512": see results
        "platform": platform.platform(),
    }


def _papermill(run: Run, threads: int, environ: dict | None = None) -> tuple[bool, float, str]:
    """Execute one run with papermill; (succeeded, seconds, the log's last lines).

    `environ` sets (or, with None, removes) variables of the run's process."""
    run.folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "papermill", str(run.source),
        str(run.folder / f"{run.notebook}.ipynb"), "--cwd", str(run.source.parent),
        "-p", "results_dir", str(run.folder),
    ]  # fmt: skip
    for key, value in run.parameters.items():  # papermill reads 1, 0.5, True, None as such
        command += ["-p", key, str(value)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    for key, value in (environ or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    started = time.perf_counter()
    with open(run.folder / "papermill.log", "w") as log:
        result = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    tail = (run.folder / "papermill.log").read_text(errors="replace")[-2000:]
    return result.returncode == 0 and run.done(), time.perf_counter() - started, tail


def _usable_cpus() -> int:
    """The CPUs this process may run on (a Slurm job's allocation), else all cores."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on macOS
        return os.cpu_count() or 1


def execute(run: Run, threads: int | None = None, environ: dict | None = None) -> dict:
    """One run, as a submitit job: papermill with `threads` threads (default: the job's CPUs)."""
    threads = threads or _usable_cpus()
    ok, seconds, tail = _papermill(run, threads, environ)
    result = {"status": "done" if ok else "failed", "seconds": round(seconds, 1),
              "threads": threads, "host": platform.node()}  # fmt: skip
    if not ok:
        result.update(log_tail=tail, log=str(run.folder / "papermill.log"))
    return result


def local_executor(folder: Path):
    """The submitit executor of a local sweep: a process per run, with no time limit in effect."""
    import submitit

    executor = submitit.LocalExecutor(folder)
    executor.update_parameters(timeout_min=LOCAL_TIMEOUT_MIN)
    return executor


def slurm_parameters(settings: dict, workers: int, name: str) -> dict:
    """`submitit.SlurmExecutor` parameters for a sweep: one task per run, `workers` at once."""
    parameters = {
        "job_name": name,
        "nodes": 1,
        "ntasks_per_node": 1,
        "array_parallelism": workers,
        "time": settings.get("timeout_min") or SLURM_TIMEOUT_MIN,
    }
    optional = {"partition": "partition", "gpus_per_run": "gpus_per_node",
                "cpus_per_run": "cpus_per_task", "args": "additional_parameters"}  # fmt: skip
    for key, parameter in optional.items():
        if settings.get(key):
            parameters[parameter] = settings[key]
    return parameters


def slurm_executor(folder: Path, settings: dict, workers: int, name: str):
    """A submitit executor that submits a sweep's runs to Slurm as one job array."""
    import submitit

    try:
        executor = submitit.SlurmExecutor(folder)
    except RuntimeError:
        raise SweepError("--slurm: no Slurm here (`srun` is not on PATH)") from None
    executor.update_parameters(**slurm_parameters(settings, workers, name))
    return executor


Jobs = Iterator[tuple[Run, object]]


def _cancel(jobs: list[tuple[Run, object]]) -> None:
    """Cancel jobs still running (local: SIGINT to the run; Slurm: scancel)."""
    for _, job in jobs:
        try:
            job.cancel(check=False)
        except OSError:
            pass


def _as_done(pending: list[tuple[Run, object]], poll: float, more: Callable | None = None) -> Jobs:
    """Yield (run, job) as jobs finish, looking every `poll` s, adding `more()` to `pending` as
    room frees up; the jobs still running are cancelled if the caller stops early (Ctrl-C)."""
    try:
        while True:
            pending += more() if more else []
            if not pending:
                return
            finished = [pair for pair in pending if pair[1].done()]
            for pair in finished:
                pending.remove(pair)
                yield pair
            if not finished:
                time.sleep(poll)
    except BaseException:
        _cancel(pending)
        raise


def _run_locally(executor, runs: list[Run], workers: int, threads: int) -> Jobs:
    """Submit runs to a LocalExecutor, `workers` at a time; (run, job) as each finishes."""
    queue = list(runs)
    cuda = {"CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES")}
    pending: list[tuple[Run, object]] = []

    def more() -> list:
        free = workers - len(pending)
        started = [queue.pop(0) for _ in range(min(free, len(queue)))]
        return [(run, executor.submit(execute, run, threads, cuda)) for run in started]

    return _as_done(pending, POLL_S, more)


def _run_on_slurm(executor, runs: list[Run], threads: int | None) -> Jobs:
    """Submit runs to Slurm as one job array; (run, job) as each finishes."""
    from submitit.core.utils import FailedJobError

    if not runs:
        return iter(())
    try:
        jobs = executor.map_array(execute, runs, [threads] * len(runs), [None] * len(runs))
    except (FailedJobError, OSError) as err:
        lines = str(err).strip().splitlines() or [type(err).__name__]
        raise SweepError(f"sbatch refused the sweep: {lines[-1]}") from None
    return _as_done(list(zip(runs, jobs, strict=True)), SLURM_POLL_S)


def _status(run: Run, job, executor: str, commit: str | None) -> dict:
    """A finished job's manifest entry; a job that died (time limit, memory, node) failed."""
    try:
        result = job.result()
    except Exception as err:  # submitit's UncompletedJobError or FailedJobError
        result = {"status": "failed", "log_tail": str(err)[-2000:], "log": str(job.paths.stderr)}
    status = {"status": result.pop("status")}
    if "seconds" in result:
        status["seconds"] = result.pop("seconds")
    status.update(parameters=run.parameters, commit=commit, executor=executor)
    return {**status, "job_id": str(job.job_id), **result}


def run_sweep(
    file: str | Path,
    *,
    out: str | Path | None = None,
    workers: int | None = None,
    progress: bool = True,
    command: str | None = None,
    grid: dict | None = None,
    slurm: dict | None = None,
) -> dict:
    """Run every run of the sweep file not yet done; return (and write) the manifest.

    `slurm` (a dict of `SLURM_KEYS`, which win over the file's ``slurm:``; {} for the file's
    alone) submits the runs to Slurm; None runs them here. Raises SweepError before any run
    starts if the sweep cannot run, and RunsFailed naming the failed runs (and their logs) after
    the others have finished.
    """
    from tqdm.auto import tqdm

    sweep = load_sweep(file, out, workers, grid)
    settings = merge_slurm(sweep.slurm, slurm) if slurm is not None else None
    jobs_dir = sweep.out / SUBMITIT_DIR
    shutil.rmtree(jobs_dir, ignore_errors=True)  # an earlier sweep's jobs: their runs rerun now
    if settings is None:
        threads, kind = max(1, (os.cpu_count() or 1) // sweep.workers), "local"
        executor = local_executor(jobs_dir)
    else:
        threads, kind = settings.get("cpus_per_run"), "slurm"
        executor = slurm_executor(jobs_dir, settings, sweep.workers, f"ssv-{sweep.file.stem}")
    sweep.out.mkdir(parents=True, exist_ok=True)
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
            "executor": kind,
        }
    )  # fmt: skip
    if settings is not None:
        manifest["slurm"] = settings
    manifest.setdefault("runs", {})

    def save() -> None:
        atomic_write_text(path, json.dumps(manifest, indent=2, default=str) + "\n")

    bar = tqdm(total=len(sweep.runs), desc="sweep", unit="run", disable=not progress, leave=False)
    todo = []
    for run in sweep.runs:
        if run.done():
            old = manifest["runs"].get(run.name, {})
            manifest["runs"][run.name] = {
                **old,
                "status": "done before",
                "parameters": run.parameters,
            }
            bar.update()
        else:
            todo.append(run)
    save()
    if settings is None:
        finished = _run_locally(executor, todo, sweep.workers, threads)
    else:
        finished = _run_on_slurm(executor, todo, threads)
    with closing(finished):
        for run, job in finished:
            manifest["runs"][run.name] = _status(run, job, kind, manifest["commit"])
            save()
            bar.update()
    bar.close()
    failed = [name for name, run in manifest["runs"].items() if run["status"] == "failed"]
    if failed:
        logs = ", ".join(
            manifest["runs"][name].get("log") or str(sweep.out / name / "papermill.log")
            for name in failed
        )
        raise RunsFailed(f"{len(failed)} of {len(sweep.runs)} runs failed: {failed}; see {logs}")
    shutil.rmtree(jobs_dir, ignore_errors=True)
    return manifest


def sweep_records(folder: str | Path) -> list[dict]:
    """The results records of every run of a sweep folder (`results.load_results` on each)."""
    from .results import load_results

    folder = Path(folder)
    runs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [record for run in runs for record in load_results(run)]
