"""`ssv bench train`: one JSON line per paper, its pretext training taken apart; `make gpu-check`
refuses in one line where it cannot run."""

from __future__ import annotations

import json

import pytest

from ssvlib import gpucheck
from ssvlib.cli import main

KEYS = {
    "paper", "preset", "backbone", "device", "dataset", "train_videos", "batch_size",
    "input_shape", "workers", "steps", "warmup_steps", "step_samples_per_s",
    "loader_samples_per_s", "fit_samples_per_s", "fit_data_wait_share", "fit_precision",
    "peak_memory_mb", "peak_memory_source", "peak_memory_mb_parts", "torch", "machine",
}  # fmt: skip


@pytest.mark.parametrize("workers", [0, 1])
def test_bench_train_prints_the_step_the_loader_and_fit_apart(workers, capsys):
    args = ["bench", "train", "--paper", "vcop", "--preset", "cpu", "--device", "cpu"]
    assert main([*args, "--workers", str(workers), "--steps", "2", "--warmup", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert KEYS <= result.keys()
    assert (result["paper"], result["backbone"], result["dataset"]) == (
        "vcop",
        "small3d",
        "builtin",
    )
    assert (result["workers"], result["steps"], result["batch_size"]) == (workers, 2, 16)
    assert list(result["step_samples_per_s"]) == ["fp32"]  # bf16 is measured on CUDA only
    rates = [result["step_samples_per_s"]["fp32"], result["loader_samples_per_s"]]
    assert min(rates + [result["fit_samples_per_s"], result["peak_memory_mb"]]) > 0
    assert 0 <= result["fit_data_wait_share"] <= 1
    workers_mb = result["peak_memory_mb_parts"]["loader_workers"]
    assert (workers_mb > 0) == (workers > 0)


def test_gpu_check_refuses_in_one_line_without_cuda(monkeypatch, capsys):
    import torch

    monkeypatch.delenv("SSV_GPU_CHECK_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpucheck.main() == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no CUDA device" in err


def test_gpu_check_refuses_in_one_line_without_real_clips(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SSV_GPU_CHECK_DEVICE", "cpu")
    monkeypatch.setenv("SSV_REAL_DATA", str(tmp_path))
    assert gpucheck.main() == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no real UCF-101 clips" in err
