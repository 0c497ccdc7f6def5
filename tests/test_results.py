"""Tests for ssvlib.results: the JSON file per run and the comparison table built from them."""

from __future__ import annotations

import json

import pytest

from ssvlib.results import (
    SCHEMA_VERSION,
    environment_info,
    format_table,
    load_results,
    mean_over_seeds,
    results_table,
    write_results,
)


def record(seed=0, paper="VCOP", video_acc=0.66):
    """A complete record, as a notebook would build it (float and int keys on purpose)."""
    return {
        "notebook": "04_vcop",
        "paper": paper,
        "dataset": "builtin",
        "split": 1,
        "backbone": "r3d",
        "parameters": {"epochs": 3, "lr": 1e-3, "clip_len": 8},
        "seed": seed,
        "device": "cpu",
        "wall_time_s": 12.5,
        "pretext": {"train_acc": 0.9, "val_acc": 0.5, "chance": 1 / 6},
        "metrics": {
            "pretrained": {
                "finetune_clip_acc": {1.0: 0.6, 0.1: 0.3},
                "finetune_video_acc": {1.0: video_acc, 0.1: 0.35},
                "linear_probe_acc": 0.41,
                "retrieval_topk": {1: 0.14, 5: 0.3},
            },
            "random_init": {
                "finetune_clip_acc": {1.0: 0.5},
                "finetune_video_acc": {1.0: 0.55},
                "linear_probe_acc": None,
            },
        },
    }


def test_round_trip(tmp_path):
    path = write_results(tmp_path, record())
    assert path.parent == tmp_path and path.suffix == ".json"
    assert path.name.startswith("vcop_r3d_builtin_seed0_")
    [loaded] = load_results(tmp_path)
    assert loaded["schema_version"] == SCHEMA_VERSION
    assert loaded["versions"] == json.loads(json.dumps(environment_info()))
    assert loaded["created"][:2] == "20"
    assert loaded["parameters"] == {"epochs": 3, "lr": 1e-3, "clip_len": 8}
    pre = loaded["metrics"]["pretrained"]
    assert pre["finetune_video_acc"] == {"1.0": 0.66, "0.1": 0.35}  # keys normalised
    assert pre["retrieval_topk"] == {"1": 0.14, "5": 0.3}
    assert loaded["metrics"]["random_init"]["linear_probe_acc"] is None


def test_two_writes_in_the_same_second_do_not_overwrite(tmp_path):
    fixed = dict(record(), created="2025-01-31T12:00:00+00:00")
    first, second = write_results(tmp_path, fixed), write_results(tmp_path, fixed)
    assert first != second and len(load_results(tmp_path)) == 2


def test_missing_keys_are_all_named(tmp_path):
    incomplete = record()
    del incomplete["seed"], incomplete["metrics"]
    with pytest.raises(ValueError, match="seed, metrics"):
        write_results(tmp_path, incomplete)
    assert not list(tmp_path.iterdir())


def test_percentages_and_unknown_metrics_are_refused(tmp_path):
    bad = record()
    bad["metrics"]["pretrained"]["linear_probe_acc"] = 41.0
    with pytest.raises(ValueError, match=r"linear_probe_acc = 41.0 .*0.41"):
        write_results(tmp_path, bad)
    typo = record()
    typo["metrics"]["pretrained"]["linear_acc"] = 0.4
    with pytest.raises(ValueError, match="linear_probe_acc"):
        write_results(tmp_path, typo)
    other = record()
    other["metrics"]["imagenet"] = {}
    with pytest.raises(ValueError, match="pretrained"):
        write_results(tmp_path, other)
    nan = record()
    nan["wall_time_s"] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        write_results(tmp_path, nan)


def test_load_skips_other_json_with_a_warning(tmp_path):
    write_results(tmp_path, record())
    (tmp_path / "notes.json").write_text('{"hello": 1}')
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.warns(UserWarning) as caught:
        loaded = load_results(tmp_path)
    assert len(loaded) == 1
    messages = " ".join(str(w.message) for w in caught)
    assert "notes.json" in messages and "broken.json" in messages
    with pytest.warns(UserWarning, match="no results folder"):
        assert load_results(tmp_path / "absent") == []


def test_table_has_one_row_per_run_and_init():
    rows = results_table([record(seed=0), record(seed=1, video_acc=0.7)])
    assert [(r["seed"], r["init"]) for r in rows] == [
        (0, "pretrained"),
        (1, "pretrained"),
        (0, "random_init"),
        (1, "random_init"),
    ]
    assert all(set(r) == set(rows[0]) for r in rows)  # same columns, missing ones None
    assert rows[0]["finetune_video_acc@1.0"] == 0.66 and rows[1]["finetune_video_acc@1.0"] == 0.7
    assert rows[0]["retrieval_top5"] == 0.3 and rows[2]["retrieval_top5"] is None
    assert rows[0]["pretext_chance"] == pytest.approx(1 / 6) and rows[2]["pretext_val_acc"] is None

    summary = mean_over_seeds(rows)
    assert len(summary) == 2 and summary[0]["seeds"] == 2
    assert summary[0]["finetune_video_acc@1.0"] == pytest.approx(0.68)
    assert summary[0]["finetune_video_acc@1.0_std"] == pytest.approx(0.0283, abs=1e-4)
    assert summary[1]["linear_probe_acc"] is None

    text = format_table(summary, ["paper", "init", "seeds", "finetune_video_acc@1.0"])
    assert text.splitlines()[2] == "| VCOP | pretrained | 2 | 68.0 |"
