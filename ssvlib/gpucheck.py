"""`make gpu-check`: a few minutes on a CUDA machine that say whether the `paper` presets run there.

Needs a CUDA device and the real UCF-101 clips ($SSV_REAL_DATA, else ../shared/ucf101 beside the
checkout); without either it refuses in one line (exit 2). Its steps, each in its own processes
with its own timeout, each run even when one before it failed:

1. `ssv bench train` for every paper's `paper` preset on the real clips: the model's step in
   bf16 and fp32, the loader with 8 workers, a short `fit`, peak GPU memory;
2. the VCOP chapter through papermill in smoke mode with the paper's preset and `r3d`;
3. `ssv pretrain` for VCOP under torchrun (one process), 2 short epochs;
4. a resume: the same script stopped once its first epoch is saved, then run again, which must
   continue from that epoch and finish;
5. one summary: each step ok or failed, its seconds and numbers, also written as JSON (its path
   is printed); the exit status is 1 when a step failed.

Steps 2-4 train into a fresh cache folder beside the summary, so no earlier run is loaded.
Settings, from the environment: SSV_GPU_CHECK_DEVICE (cuda; "cpu" for a dry run here),
SSV_GPU_CHECK_PRESET (paper), SSV_GPU_CHECK_STEPS (15 timed steps per benchmark),
SSV_GPU_CHECK_WORKERS (8), SSV_GPU_CHECK_MAX_STEPS (10 steps per pretext epoch),
SSV_GPU_CHECK_NPROC (1 torchrun process), SSV_GPU_CHECK_BUDGET (480 s for everything; each
step's timeout is a share of it) and SSV_GPU_CHECK_OUT (default _build/gpu-check/<time>).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .papers import PAPERS

REPO = Path(__file__).resolve().parents[1]
SHARES = {"bench": 0.15, "notebook": 0.4, "torchrun": 0.2, "resume": 0.3}
"""Each step's timeout as a share of the budget ("bench": per paper); no command runs past the
budget, and a step with under 10 s of it left is not started."""


@dataclass
class Settings:
    """What the check runs, read from the environment (see the module's docstring)."""

    device: str = "cuda"
    preset: str = "paper"
    steps: int = 15
    workers: int = 8
    max_steps: int = 10
    nproc: int = 1
    budget: float = 480.0
    root: Path | None = None
    out: Path = field(default_factory=Path)
    deadline: float = float("inf")  # time.perf_counter() at which the budget is spent

    @classmethod
    def from_env(cls) -> Settings:
        """The settings of this run: defaults, overridden by SSV_GPU_CHECK_* and SSV_REAL_DATA."""
        env = os.environ.get
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return cls(
            device=env("SSV_GPU_CHECK_DEVICE", "cuda"),
            preset=env("SSV_GPU_CHECK_PRESET", "paper"),
            steps=int(env("SSV_GPU_CHECK_STEPS", "15")),
            workers=int(env("SSV_GPU_CHECK_WORKERS", "8")),
            max_steps=int(env("SSV_GPU_CHECK_MAX_STEPS", "10")),
            nproc=int(env("SSV_GPU_CHECK_NPROC", "1")),
            budget=float(env("SSV_GPU_CHECK_BUDGET", "480")),
            root=real_root(),
            out=Path(env("SSV_GPU_CHECK_OUT") or REPO / "_build" / "gpu-check" / stamp),
        )

    def timeout(self, step: str) -> float:
        """Seconds a command of `step` may run: its share of the budget, within what is left."""
        return min(SHARES[step] * self.budget, self.deadline - time.perf_counter())

    @property
    def backbone(self) -> str:
        """VCOP's backbone for the preset: r3d for "paper"."""
        return PAPERS["vcop"].default_backbone(self.preset)

    def pretrain_args(self, epochs: int) -> list[str]:
        """`ssv pretrain`'s arguments (as `python -m ssvlib.cli pretrain`) for VCOP on the real clips."""
        return [
            "-m", "ssvlib.cli", "pretrain", "--paper", "vcop", "--preset", self.preset,
            "--backbone", self.backbone, "--dataset", "ucf101", "--data-root", str(self.root),
            "--epochs", str(epochs), "--max-steps-per-epoch", str(self.max_steps),
            "--num-workers", str(self.workers),
        ]  # fmt: skip


def real_root() -> Path | None:
    """$SSV_REAL_DATA, else ../shared/ucf101 beside the checkout, if it holds UCF-101's layout."""
    root = Path(os.environ.get("SSV_REAL_DATA") or REPO.parent / "shared" / "ucf101")
    ok = (root / "ucfTrainTestlist").is_dir() and (root / "UCF-101").is_dir()
    return root.resolve() if ok else None


def refusal(settings: Settings) -> str | None:
    """Why the check cannot run here (no CUDA device, no real clips), or None."""
    import torch

    if settings.device.startswith("cuda") and not torch.cuda.is_available():
        return (
            "gpu-check: no CUDA device (torch.cuda.is_available() is False); "
            "SSV_GPU_CHECK_DEVICE=cpu runs it anyway, as a dry run"
        )
    if settings.root is None:
        where = os.environ.get("SSV_REAL_DATA") or REPO.parent / "shared" / "ucf101"
        return (
            f"gpu-check: no real UCF-101 clips at {where} (ucfTrainTestlist/ and UCF-101/); "
            "set SSV_REAL_DATA to a folder that holds them"
        )
    return None


# --------------------------------------------------------------------------- running commands


@dataclass
class Ran:
    """A finished command: exit status (None: timed out, stopped), seconds, stdout and log."""

    rc: int | None
    seconds: float
    stdout: str
    log: Path

    @property
    def ok(self) -> bool:
        """It exited with status 0."""
        return self.rc == 0

    def json_lines(self) -> list[dict]:
        """The JSON objects it printed, one a line."""
        found = []
        for line in self.stdout.splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    pass
        return found

    def tail(self, lines: int = 15) -> str:
        """How it ended, and the last lines of its log (stderr, then stdout)."""
        how = f"exit status {self.rc}" if self.rc is not None else "stopped (timeout or done)"
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        return "\n".join(
            [f"{how} after {self.seconds:.0f} s; {self.log}:"] + text.splitlines()[-lines:]
        )


def stop(process: subprocess.Popen) -> None:
    """End a command and every process it started (its own process group): TERM, then KILL."""
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run(
    args: list[str], log: Path, timeout: float, env: dict, until=None, poll: float = 0.2
) -> Ran:
    """Run `python args` in its own process group, stdout kept, everything also in `log`.

    It is stopped after `timeout` seconds, or as soon as `until()` is true (rc None then).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log, "w") as err, open(log.with_suffix(".out"), "w+") as out:
        process = subprocess.Popen(
            [sys.executable, *args], cwd=REPO, env=env, stdout=out, stderr=err,
            start_new_session=True,
        )  # fmt: skip
        rc = None
        while time.perf_counter() - started < timeout:
            rc = process.poll()
            if rc is not None or (until is not None and until()):
                break
            time.sleep(poll)
        if rc is None:
            stop(process)
        out.seek(0)
        stdout = out.read()
    with open(log, "a") as err:
        err.write(f"\n--- stdout ---\n{stdout}")
    return Ran(rc, time.perf_counter() - started, stdout, log)


def environment(settings: Settings, *, smoke: bool = False, fresh_cache: bool = False) -> dict:
    """The environment of a step: SSV_SMOKE only where asked; a fresh run cache where asked."""
    env = {k: v for k, v in os.environ.items() if k != "SSV_SMOKE"}
    if smoke:
        env["SSV_SMOKE"] = "1"
    if fresh_cache:
        env["SSV_CACHE"] = str(settings.out / "cache")
    return env


# --------------------------------------------------------------------------- the steps


def bench_step(settings: Settings) -> dict:
    """Step 1: `ssv bench train` for every paper, each in its own process and timeout."""
    papers, ok = {}, True
    for paper in PAPERS:
        args = [
            "-m", "ssvlib.cli", "bench", "train", "--paper", paper, "--preset", settings.preset,
            "--device", settings.device, "--workers", str(settings.workers),
            "--steps", str(settings.steps), "--root", str(settings.root), "--dataset", "ucf101",
        ]  # fmt: skip
        log, timeout = settings.out / f"bench-{paper}.log", settings.timeout("bench")
        done = run(args, log, timeout, environment(settings))
        lines = done.json_lines()
        if not done.ok or not lines:
            ok = False
            papers[paper] = {"ok": False, "seconds": round(done.seconds), "error": done.tail()}
            continue
        line = lines[-1]
        papers[paper] = {
            "ok": True,
            "seconds": round(done.seconds),
            "backbone": line["backbone"],
            "batch_size": line["batch_size"],
            "step_samples_per_s": line["step_samples_per_s"],
            "loader_samples_per_s": line["loader_samples_per_s"],
            "fit_samples_per_s": line["fit_samples_per_s"],
            "fit_data_wait_share": line["fit_data_wait_share"],
            "peak_memory_mb": line["peak_memory_mb"],
            "peak_memory_source": line["peak_memory_source"],
        }
    seconds = sum(result["seconds"] for result in papers.values())
    return {"ok": ok, "seconds": seconds, "papers": papers}


def notebook_step(settings: Settings) -> dict:
    """Step 2: the VCOP chapter through papermill, smoke mode, the preset and its backbone."""
    out = settings.out / "notebook"
    args = [
        "-m", "papermill", str(REPO / "notebooks" / "04_vcop.ipynb"), str(out / "04_vcop.ipynb"),
        "--cwd", str(REPO / "notebooks"), "-p", "dataset", "ucf101", "-p", "data_root",
        str(settings.root), "-p", "preset", settings.preset, "-p", "backbone", settings.backbone,
        "-p", "num_workers", str(settings.workers), "-p", "device", settings.device,
        "-p", "results_dir", str(out / "results"),
    ]  # fmt: skip
    env = environment(settings, smoke=True, fresh_cache=True)
    done = run(args, out / "papermill.log", settings.timeout("notebook"), env)
    written = sorted((out / "results").glob("*.json")) if (out / "results").is_dir() else []
    result = {"ok": done.ok and bool(written), "seconds": round(done.seconds)}
    if written:
        result["results_file"] = str(written[-1])
    if not result["ok"]:
        result["error"] = done.tail()
    return result


def torchrun_step(settings: Settings) -> dict:
    """Step 3: the VCOP pretext script under torchrun, 2 epochs of a few steps."""
    args = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(settings.nproc)]
    args += settings.pretrain_args(epochs=2)
    env = environment(settings, fresh_cache=True)
    done = run(args, settings.out / "torchrun.log", settings.timeout("torchrun"), env)
    lines = [line for line in done.json_lines() if "processes" in line]
    ok = done.ok and bool(lines) and lines[-1]["epochs"] == 2
    result = {"ok": ok, "seconds": round(done.seconds), "processes": settings.nproc}
    if lines:
        best = lines[-1]["best"]
        result.update(epochs=lines[-1]["epochs"], samples_per_s=round(best["samples_per_s"], 1))
    if settings.nproc == 1:
        result["note"] = "one process forms no process group: NCCL is not exercised"
    if not ok:
        result["error"] = done.tail()
    return result


def _saved_epoch(path: Path | None) -> int:
    """The epoch a last.pt holds (0: no file)."""
    import torch

    if path is None or not path.is_file():
        return 0
    return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])


def _new_checkpoint(runs: Path, before: set[Path]) -> Path | None:
    """A VCOP run's last.pt under `runs` that is not in `before`, if one was written."""
    return next(iter(sorted(set(runs.glob("vcop-*/last.pt")) - before)), None)


def resume_step(settings: Settings, epochs: int = 3) -> dict:
    """Step 4: the pretext script stopped once its first epoch is saved, then run again: it must
    resume after that epoch and finish all `epochs`."""
    runs = settings.out / "cache" / "runs"
    before = set(runs.glob("vcop-*/last.pt"))
    env, args = environment(settings, fresh_cache=True), settings.pretrain_args(epochs)
    log, timeout = settings.out / "resume-1.log", settings.timeout("resume")
    started = time.perf_counter()
    first = run(args, log, timeout, env, until=lambda: _new_checkpoint(runs, before) is not None)
    saved = _new_checkpoint(runs, before)
    stopped_after = _saved_epoch(saved)
    result = {"ok": False, "seconds": round(first.seconds), "stopped_after_epoch": stopped_after}
    if first.rc is not None or not 1 <= stopped_after < epochs:
        how = "finished before it was stopped" if first.ok else "did not save an epoch"
        result["error"] = f"the first run {how}:\n{first.tail()}"
        return result
    left = timeout - (time.perf_counter() - started)
    second = run(args, settings.out / "resume-2.log", left, env)
    resumed = f"resumed after epoch {stopped_after}" in second.stdout
    final = _saved_epoch(saved)
    result.update(
        ok=second.ok and resumed and final == epochs,
        seconds=round(time.perf_counter() - started),
        resumed_message=resumed,
        final_epoch=final,
    )
    if not result["ok"]:
        result["error"] = second.tail()
    return result


# --------------------------------------------------------------------------- the summary


def _paper_line(paper: str, r: dict) -> str:
    """One paper's benchmark numbers, for the summary."""
    if not r["ok"]:
        return f"    {paper:14s} failed: {r['error'].splitlines()[0]}"
    rates = r["step_samples_per_s"]
    step = " / ".join(f"{rates[k]:g} {k}" for k in ("bf16", "fp32") if k in rates)
    return (
        f"    {paper:14s} step {step}; loader {r['loader_samples_per_s']:g}; "
        f"fit {r['fit_samples_per_s']:g} samples/s, waiting for data "
        f"{r['fit_data_wait_share']:.0%}; peak {r['peak_memory_mb']:,.0f} MiB"
    )


def summary_text(summary: dict) -> str:
    """The summary as lines of text."""
    steps = summary["steps"]
    failed = [name for name, step in steps.items() if not step["ok"]]
    head = (
        f"gpu-check on {summary['device_name']} ({summary['settings']['device']}), preset "
        f"{summary['settings']['preset']}, clips {summary['settings']['root']}: "
        f"{len(steps) - len(failed)} of {len(steps)} steps ok in {summary['seconds']:.0f} s"
    )
    lines = [head]
    for name, step in steps.items():
        lines.append(f"  {'ok' if step['ok'] else 'FAILED':6s} {step['seconds']:4d} s  {name}")
        for paper, r in step.get("papers", {}).items():
            lines.append(_paper_line(paper, r))
        for key in ("samples_per_s", "stopped_after_epoch", "final_epoch", "note", "skipped"):
            if key in step:
                lines.append(f"    {key}: {step[key]}")
        if not step["ok"] and step.get("error"):
            lines.extend("    | " + line for line in step["error"].splitlines()[-8:])
    return "\n".join(lines)


def main() -> int:
    """Run the steps within the budget, print the summary and its JSON's path; 2 refuses."""
    settings = Settings.from_env()
    reason = refusal(settings)
    if reason:
        print(reason, file=sys.stderr)
        return 2
    import torch

    from .sweep import machine

    settings.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    settings.deadline = started + settings.budget
    plan = {
        "1 bench train, every paper": bench_step,
        "2 notebook 04_vcop (papermill, smoke)": notebook_step,
        f"3 torchrun pretrain vcop ({settings.nproc} process)": torchrun_step,
        "4 resume pretrain vcop": resume_step,
    }
    steps: dict[str, dict] = {}
    for name, step in plan.items():
        if settings.deadline - time.perf_counter() < 10:
            steps[name] = {"ok": False, "seconds": 0, "skipped": "the budget was spent"}
            continue
        print(f"gpu-check: {name} ...", file=sys.stderr, flush=True)
        began = time.perf_counter()
        try:
            steps[name] = step(settings)
        except Exception as err:  # a fault of the check itself: the next steps still run
            seconds = round(time.perf_counter() - began)
            steps[name] = {"ok": False, "seconds": seconds, "error": f"{type(err).__name__}: {err}"}
    on_cuda = settings.device.startswith("cuda")
    summary = {
        "ok": all(step["ok"] for step in steps.values()),
        "seconds": round(time.perf_counter() - started, 1),
        "device_name": torch.cuda.get_device_name(0) if on_cuda else "CPU (dry run)",
        "settings": {k: str(v) for k, v in vars(settings).items() if k != "deadline"},
        "machine": machine(),
        "steps": steps,
    }
    path = settings.out / "summary.json"
    path.write_text(json.dumps(summary, indent=2))
    print(summary_text(summary))
    print(f"summary: {path}")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
