"""The frame of every paper chapter: parameters checked before any work, the results file."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
from test_results import chapter_outputs

import ssvlib.chapter as chapter_module
from ssvlib.chapter import Chapter
from ssvlib.models.encoders import ENCODERS_2D
from ssvlib.results import collect_metrics, load_results
from ssvlib.tasks import opn
from ssvlib.train import History

PARAMETERS = dict(
    dataset="builtin", data_root=None, split=1, backbone="small2d", preset="cpu",
    device="cpu", seed=3, epochs=None, batch_size=None, num_workers=None,
    label_fraction=0.1,
)  # fmt: skip


@pytest.fixture
def opened(monkeypatch):
    """Videos are not opened: the calls are counted instead."""
    calls = []

    def fake_open(dataset, data_root, split):
        calls.append((dataset, data_root, split))
        return SimpleNamespace(
            dataset=dataset, split=split, num_classes=10, describe=lambda: dataset
        )

    monkeypatch.setattr(chapter_module, "open_videos", fake_open)
    monkeypatch.delenv("SSV_SMOKE", raising=False)
    return calls


def test_bad_parameters_fail_before_the_videos_are_opened(opened):
    with pytest.raises(ValueError, match="backbone='r3d' is not valid; choose one of"):
        Chapter.open("02_opn", "opn", opn.PRESETS, ENCODERS_2D, **{**PARAMETERS, "backbone": "r3d"})
    with pytest.raises(ValueError, match="preset='big' is not valid"):
        Chapter.open("02_opn", "opn", opn.PRESETS, ENCODERS_2D, **{**PARAMETERS, "preset": "big"})
    with pytest.raises(ValueError, match="epochs=0 must be a positive integer"):
        Chapter.open("02_opn", "opn", opn.PRESETS, ENCODERS_2D, **{**PARAMETERS, "epochs": 0})
    assert opened == []


def test_the_results_file_records_the_run_and_the_chapters_own_parameters(opened, tmp_path):
    chapter = Chapter.open("02_opn", "opn", opn.PRESETS, ENCODERS_2D, **{**PARAMETERS, "epochs": 7})
    assert opened == [("builtin", None, 1)]
    assert chapter.recipe.pretext.epochs == 7 and chapter.run["seed"] == 3
    changed = opn.with_switches(chapter.recipe, channel_split=False)
    assert chapter.use(changed, channel_split=False) is changed and chapter.recipe is changed
    history = History(epochs=[{"epoch": 1, "train_acc": 0.3, "val_acc": 0.25}], best_epoch=1)
    path = chapter.save(history, collect_metrics(*chapter_outputs()), tmp_path)
    [record] = load_results(path.parent)
    assert record["notebook"] == "02_opn" and record["seed"] == 3
    assert record["pretext"]["chance"] == pytest.approx(1 / 12)
    parameters = record["parameters"]
    assert parameters["channel_split"] is False and parameters["epochs"] == 7
    assert parameters["batch_size"] == opn.PRESETS["cpu"].pretext.batch_size
    assert parameters["smoke"] is False
    assert dataclasses.asdict(chapter.recipe.view)["channel_split"] is False


def test_the_model_and_its_random_init_start_from_the_same_seeded_weights(opened, capsys):
    import torch

    from ssvlib.tasks import o3n

    chapter = Chapter.open("03_o3n", "o3n", o3n.PRESETS, ENCODERS_2D, **PARAMETERS)
    model, initial = chapter.model(o3n.build_model)
    again, _ = chapter.model(o3n.build_model)
    weights = model.encoder.net.state_dict()
    assert initial is not model.encoder.net and initial.in_channels == 18
    for key, value in initial.state_dict().items():
        assert torch.equal(value, weights[key]) and torch.equal(
            value, again.encoder.net.state_dict()[key]
        )
    assert "small2d on 18 input channels" in capsys.readouterr().out
    assert chapter.ablate(o3n.build_model, {}, (), "no seeds: nothing runs") is None


def test_pretext_on_one_dataset_evaluation_on_another(opened, tmp_path):
    hmdb = dict(downstream="hmdb51", downstream_root="/data/hmdb51")
    chapter = Chapter.open("02_opn", "opn", opn.PRESETS, ENCODERS_2D, **PARAMETERS, **hmdb)
    assert opened == [("builtin", None, 1), ("hmdb51", "/data/hmdb51", 1)]
    assert chapter.videos.dataset == "builtin" and chapter.eval_videos.dataset == "hmdb51"
    history = History(epochs=[{"epoch": 1, "train_acc": 0.3, "val_acc": 0.25}], best_epoch=1)
    path = chapter.save(history, collect_metrics(*chapter_outputs()), tmp_path)
    [record] = load_results(path.parent)
    assert (record["dataset"], record["downstream"]) == ("builtin", "hmdb51")
    assert "builtin-to-hmdb51" in path.name and record["parameters"]["strict"] is False


def test_the_hmdb51_downstream_path_runs_on_the_real_clips(real_hmdb51, monkeypatch, capsys):
    from ssvlib.tasks import vcop

    monkeypatch.setenv("SSV_SMOKE", "1")
    parameters = {**PARAMETERS, "backbone": "small3d", "seed": 0}
    chapter = Chapter.open(
        "04_vcop", "vcop", vcop.PRESETS, ("small3d",), **parameters,
        downstream="hmdb51", downstream_root=str(real_hmdb51),
    )  # fmt: skip
    videos = chapter.eval_videos
    assert videos.num_classes == 51 and len(videos.train) >= 3 and videos.test
    _, initial = chapter.model(vcop.build_model)
    frozen, tuned, metrics = chapter.compare(initial, initial, "VCOP")
    assert set(metrics) == {"pretrained", "random_init"}
    assert len(frozen["pretrained"]["test"].labels) == len(videos.test)
    out = capsys.readouterr().out
    assert "evaluated on hmdb51 split 1" in out and "VCOP reports 29.5% on HMDB-51" in out
