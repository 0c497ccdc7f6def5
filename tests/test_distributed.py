"""Training under torchrun (gloo, 2 CPU processes): the steps a single process takes, resumable,
and the pretext script writes the run folder the notebook looks in."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ssvlib.data.loader import EpochSampler

WORKER = Path(__file__).with_name("ddp_worker.py")
TOLERANCE = 1e-5  # measured: 1e-7 on the per-step losses and on the final weights


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(*args: str, processes: int = 2, module: bool = False) -> subprocess.CompletedProcess:
    """Run a script (or `-m` module) under torchrun with `processes` CPU processes."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node",
               str(processes), "--master_port", str(free_port())]  # fmt: skip
    command += ["-m", *args] if module else list(args)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def single(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def losses(folder: Path, processes: int) -> np.ndarray:
    """The loss of each step on the global batch: the processes' batch losses averaged."""
    parts = [json.loads((folder / f"losses-{r}.json").read_text()) for r in range(processes)]
    return np.mean(np.array(parts), axis=0)


def weights(folder: Path) -> dict:
    return torch.load(folder / "weights.pt", weights_only=True)


def test_the_processes_share_every_global_batch_out():
    order = EpochSampler(20, seed=3)
    order.set_epoch(2)
    ranks = []
    for rank in (0, 1):
        sampler = EpochSampler(20, seed=3, batch_size=4, rank=rank, world_size=2)
        sampler.set_epoch(2)
        ranks.append(list(sampler))
        assert len(sampler) == len(ranks[-1]) == 8  # 2 whole global batches of 8
    whole = list(order)
    for k in range(2):  # global batch k is rank 0's k-th batch, then rank 1's
        assert ranks[0][4 * k : 4 * k + 4] + ranks[1][4 * k : 4 * k + 4] == whole[8 * k : 8 * k + 8]


@pytest.mark.slow
def test_two_processes_take_the_steps_of_one_with_the_same_global_batch(tmp_path):
    single(str(WORKER), str(tmp_path / "one"), "2")
    launch(str(WORKER), str(tmp_path / "two"), "2")
    one, two = losses(tmp_path / "one", 1), losses(tmp_path / "two", 2)
    assert len(one) == len(two) == 16  # 2 epochs of 8 global batches
    np.testing.assert_allclose(two, one, rtol=TOLERANCE, atol=TOLERANCE)
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < TOLERANCE
    history = json.loads((tmp_path / "two" / "history.json").read_text())
    assert history["epochs"][0]["train_loss"] == pytest.approx(one[:8].mean(), rel=TOLERANCE)


@pytest.mark.slow
def test_an_interrupted_distributed_run_resumes_where_it_stopped(tmp_path):
    launch(str(WORKER), str(tmp_path / "straight"), "2")
    launch(str(WORKER), str(tmp_path / "cut"), "1")  # stopped after epoch 1
    launch(str(WORKER), str(tmp_path / "cut"), "2")  # and run again
    assert len(json.loads((tmp_path / "cut" / "losses-0.json").read_text())) == 8  # epoch 2 only
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "cut")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_the_pretext_script_under_torchrun_writes_the_run_the_notebook_loads():
    args = ["ssvlib.cli", "pretrain", "--paper", "vcop", "--epochs", "1", "--seed", "11",
            "--max-steps-per-epoch", "2"]  # fmt: skip
    distributed = launch(*args, module=True)
    report = json.loads(distributed.stdout.strip().splitlines()[-1])
    assert report["processes"] == 2 and report["epochs"] == 1
    again = single("-m", *args)  # one process, the same parameters: the chapter's call
    assert "loaded the finished run" in again.stdout
    assert json.loads(again.stdout.strip().splitlines()[-1])["best"] == report["best"]
