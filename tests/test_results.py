"""Tests for ssvlib.results: the JSON file per run and the comparison table built from them."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ssvlib.papers import PAPERS
from ssvlib.results import (
    SCHEMA_VERSION,
    collect_metrics,
    comparison_rows,
    environment_info,
    format_comparison,
    format_retrieval,
    load_results,
    make_record,
    results_table,
    supervised_reference,
    write_results,
)
from ssvlib.train import History


def record(seed=0, paper="vcop", video_acc=0.66):
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
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
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


@pytest.mark.parametrize("paper", ["VCOP", "shuffle-learn", "", None])
def test_a_paper_that_is_not_a_key_is_refused_with_an_example(tmp_path, paper):
    with pytest.raises(ValueError, match=f"paper={paper!r} is not a paper's key.*'vcop'"):
        write_results(tmp_path, record(paper=paper))
    assert not list(tmp_path.iterdir())


def test_every_paper_name_is_accepted(tmp_path):
    for paper in PAPERS:
        write_results(tmp_path, record(paper=paper))
    assert sorted(r["paper"] for r in load_results(tmp_path)) == sorted(PAPERS)


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


# --------------------------------------------------------------------------- a chapter's run


def chapter_outputs():
    """What frozen_eval and finetune_fractions return for both initialisations (trimmed)."""
    frozen = {
        "pretrained": {
            "linear_probe_acc": 0.45,
            "retrieval_topk": {1: 0.25, 5: 0.5, 10: 0.6},
            "train": object(),
            "test": object(),
        },
        "random_init": {
            "linear_probe_acc": 0.3,
            "retrieval_topk": {1: 0.2, 5: 0.4, 10: 0.5},
            "train": object(),
            "test": object(),
        },
    }
    tuned = {
        "pretrained": {
            1.0: {"video_acc": 0.7, "clip_acc": 0.6, "history": History()},
            0.1: {"video_acc": 0.4, "clip_acc": 0.35, "history": History()},
        },
        "random_init": {
            1.0: {"video_acc": 0.55, "clip_acc": 0.5, "history": History()},
            0.1: {"video_acc": 0.25, "clip_acc": 0.2, "history": History()},
        },
    }
    return frozen, tuned


def test_collect_metrics_keeps_the_schema_numbers_only():
    metrics = collect_metrics(*chapter_outputs())
    assert set(metrics) == {"pretrained", "random_init"}
    assert metrics["pretrained"] == {
        "linear_probe_acc": 0.45,
        "retrieval_topk": {1: 0.25, 5: 0.5, 10: 0.6},
        "finetune_video_acc": {1.0: 0.7, 0.1: 0.4},
        "finetune_clip_acc": {1.0: 0.6, 0.1: 0.35},
    }
    frozen, _ = chapter_outputs()
    only_frozen = collect_metrics(frozen, {})  # not fine-tuned (yet): empty, not missing
    assert only_frozen["random_init"]["finetune_video_acc"] == {}


def test_comparison_rows_and_the_text_table():
    metrics = collect_metrics(*chapter_outputs())
    rows = comparison_rows(metrics)
    assert rows == [
        ("linear probe", 0.45, 0.3),
        ("retrieval top-1", 0.25, 0.2),
        ("retrieval top-5", 0.5, 0.4),
        ("fine-tune 100% labels", 0.7, 0.55),
        ("fine-tune 10% labels", 0.4, 0.25),
    ]
    assert supervised_reference(metrics) == 0.55
    text = format_comparison(rows, chance=0.25, supervised=0.55, paper="vcop").splitlines()
    assert text[0].split() == ["measure", "(video", "level)", "vcop", "random", "init", "gain*"]
    assert text[1].split() == ["linear", "probe", "45.0%", "30.0%", "+15.0%"]
    assert text[4].split()[-3:] == ["70.0%", "55.0%", "+15.0%"]
    assert text[-3].split() == ["chance", "25.0%"]
    assert text[-2].startswith("supervised reference") and "55.0%" in text[-2]
    assert text[-1].startswith("* the gain of one run")  # its interval needs seeds
    without = format_comparison(rows, chance=0.25, supervised=None)
    assert "supervised" not in without and without.splitlines()[0].split()[3] == "pretrained"


def test_retrieval_table_puts_the_paper_beside_both_inits():
    metrics = collect_metrics(*chapter_outputs())
    text = format_retrieval(metrics, {"1": 0.199, "50": 0.516}, paper_name="paper").splitlines()
    assert text[0].split() == ["top-k", "pretrained", "random", "init", "paper"]
    assert text[1].split() == ["top-1", "25.0%", "20.0%", "19.9%"]
    assert text[3].split() == ["top-10", "60.0%", "50.0%"]  # the paper has no top-10 here
    assert len(text) == 4  # the rows are our ks: k=50 was not measured
    assert format_retrieval(metrics).splitlines()[0].split() == [
        "top-k",
        "pretrained",
        "random",
        "init",
    ]


def test_no_supervised_reference_without_a_full_label_run():
    frozen, tuned = chapter_outputs()
    del tuned["random_init"][1.0]
    assert supervised_reference(collect_metrics(frozen, tuned)) is None


def test_make_record_writes_a_valid_results_file(tmp_path):
    history = History(
        epochs=[
            {"epoch": 1, "train_acc": 0.5, "val_acc": 0.45},
            {"epoch": 2, "train_acc": 0.9, "val_acc": 0.4},  # the last epoch is not the best
        ],
        best_epoch=1,
    )
    rec = make_record(
        notebook="04_vcop",
        paper="vcop",
        videos=SimpleNamespace(dataset="builtin", split=2),
        backbone="small3d",
        parameters={"preset": "cpu"},
        seed=3,
        device="cpu",
        wall_time_s=61.234,
        pretext_history=history,
        chance=1 / 6,
        metrics=collect_metrics(*chapter_outputs()),
    )
    assert rec["pretext"] == {
        "train_acc": 0.5, "val_acc": 0.45, "chance": 1 / 6, "best_epoch": 1, "epochs": 2
    }  # fmt: skip
    assert (rec["dataset"], rec["split"], rec["wall_time_s"]) == ("builtin", 2, 61.2)
    [loaded] = load_results(write_results(tmp_path, rec).parent)
    assert loaded["metrics"]["pretrained"]["finetune_video_acc"] == {"1.0": 0.7, "0.1": 0.4}
    assert loaded["metrics"]["random_init"]["retrieval_topk"]["5"] == 0.4
    rows = results_table([loaded])
    assert rows[0]["finetune_video_acc@0.1"] == 0.4 and rows[0]["pretext_val_acc"] == 0.45
