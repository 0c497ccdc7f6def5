"""Run-wide settings: smoke mode, device names, run folders, results folder."""

from __future__ import annotations

import pytest
import torch

from ssvlib import config, settings


def test_smoke_flag(monkeypatch):
    for value, expected in (("1", True), ("yes", True), ("0", False), ("", False)):
        monkeypatch.setenv("SSV_SMOKE", value)
        assert config.is_smoke() is expected


def test_devices(monkeypatch):
    assert config.resolve_device("cpu") == torch.device("cpu")
    assert config.resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="'auto', 'cuda', 'mps', 'cpu'"):
        config.resolve_device("tpu")


def test_auto_device_prefers_cuda_and_falls_back_to_cpu(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.resolve_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert config.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA GPU; use 'auto' or 'cpu'"):
        config.resolve_device("cuda")


def test_run_dir_changes_with_settings_and_smoke(monkeypatch, tmp_path):
    monkeypatch.setenv("SSV_CACHE", str(tmp_path))
    monkeypatch.setenv("SSV_SMOKE", "0")
    a = config.run_dir("vcop", {"lr": 0.1, "seed": 0})
    assert a == config.run_dir("vcop", {"seed": 0, "lr": 0.1})
    assert a != config.run_dir("vcop", {"lr": 0.2, "seed": 0})
    monkeypatch.setenv("SSV_SMOKE", "1")
    assert config.run_dir("vcop", {"lr": 0.1, "seed": 0}) != a
    assert a.parent == tmp_path / "runs"


def test_results_dir_never_mixes_smoke_and_real_runs(monkeypatch, tmp_path):
    monkeypatch.delenv("SSV_RESULTS", raising=False)
    monkeypatch.setenv("SSV_SMOKE", "0")
    real = config.default_results_dir()
    monkeypatch.setenv("SSV_SMOKE", "1")
    assert config.default_results_dir() != real
    monkeypatch.setenv("SSV_RESULTS", str(tmp_path))
    assert config.default_results_dir() == tmp_path


def test_check_choice_lists_valid_values():
    with pytest.raises(ValueError, match="'builtin', 'ucf101'"):
        settings.check_choice("dataset", "kinetics", ("builtin", "ucf101"))


def test_a_path_in_the_cache_is_shown_without_the_machines_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SSV_CACHE", str(tmp_path / "cache"))
    inside = config.cache_dir() / "builtin-v2-seed0"
    assert config.shown_path(inside) == "$SSV_CACHE/builtin-v2-seed0"
    assert config.shown_path(tmp_path / "data") == str(tmp_path / "data")  # the user's own root
