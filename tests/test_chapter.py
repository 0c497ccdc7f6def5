"""The frame of every paper chapter: parameters checked before any work, the results file."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
from test_results import chapter_outputs

import ssvlib.prepare as prepare_module
from ssvlib.chapter import Chapter
from ssvlib.papers import opn
from ssvlib.results import collect_metrics, load_results
from ssvlib.settings import RunParameters
from ssvlib.train import History


def open_run(paper: str, **parameters) -> Chapter:
    """`Chapter.open` with these values in the parameters cell."""
    return Chapter.open(paper, RunParameters(**parameters))


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
        videos = SimpleNamespace(
            dataset=dataset, split=split, num_classes=10, describe=lambda: dataset,
            fit=[], val=[], train=[], test=[], unreadable={},
        )  # fmt: skip
        videos.readable = lambda: videos
        return videos

    monkeypatch.setattr(prepare_module, "open_videos", fake_open)
    monkeypatch.delenv("SSV_SMOKE", raising=False)
    return calls


def test_bad_parameters_fail_before_the_videos_are_opened(opened):
    with pytest.raises(ValueError, match="backbone='r3d' is not valid; choose one of"):
        open_run("opn", **{**PARAMETERS, "backbone": "r3d"})
    with pytest.raises(ValueError, match="preset='big' is not valid"):
        open_run("opn", **{**PARAMETERS, "preset": "big"})
    with pytest.raises(ValueError, match="epochs=0 must be a positive integer"):
        open_run("opn", **{**PARAMETERS, "epochs": 0})
    assert opened == []


def test_the_results_file_records_the_run_and_the_chapters_own_parameters(opened, tmp_path):
    chapter = open_run("opn", **{**PARAMETERS, "epochs": 7})
    assert opened == [("builtin", None, 1)]
    assert chapter.recipe.pretext.epochs == 7 and chapter.run.seed == 3
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

    chapter = open_run("o3n", **PARAMETERS)
    model, initial = chapter.model()
    again, _ = chapter.model()
    weights = model.encoder.net.state_dict()
    assert initial is not model.encoder.net and initial.in_channels == 18
    for key, value in initial.state_dict().items():
        assert torch.equal(value, weights[key]) and torch.equal(
            value, again.encoder.net.state_dict()[key]
        )
    assert "small2d on 18 input channels" in capsys.readouterr().out
    assert chapter.ablate({}, (), "no seeds: nothing runs") is None


def test_pretext_on_one_dataset_evaluation_on_another(opened, tmp_path):
    hmdb = dict(downstream="hmdb51", downstream_root="/data/hmdb51")
    chapter = open_run("opn", **PARAMETERS, **hmdb)
    assert opened == [("builtin", None, 1), ("hmdb51", "/data/hmdb51", 1)]
    assert chapter.videos.dataset == "builtin" and chapter.eval_videos.dataset == "hmdb51"
    history = History(epochs=[{"epoch": 1, "train_acc": 0.3, "val_acc": 0.25}], best_epoch=1)
    path = chapter.save(history, collect_metrics(*chapter_outputs()), tmp_path)
    [record] = load_results(path.parent)
    assert (record["dataset"], record["downstream"]) == ("builtin", "hmdb51")
    assert "builtin-to-hmdb51" in path.name and record["parameters"]["strict"] is False


def test_the_hmdb51_downstream_path_runs_on_the_real_clips(real_hmdb51, monkeypatch, capsys):

    monkeypatch.setenv("SSV_SMOKE", "1")
    parameters = {**PARAMETERS, "backbone": "small3d", "seed": 0}
    chapter = open_run("vcop", **parameters,
        downstream="hmdb51", downstream_root=str(real_hmdb51),
    )  # fmt: skip
    videos = chapter.eval_videos
    assert videos.num_classes == 51 and len(videos.train) >= 3 and videos.test
    _, initial = chapter.model()
    frozen, tuned, metrics = chapter.compare(initial, initial, "VCOP")
    assert set(metrics) == {"pretrained", "random_init"}
    assert len(frozen["pretrained"]["test"].labels) == len(videos.test)
    out = capsys.readouterr().out
    assert "evaluated on hmdb51 split 1" in out and "VCOP reports 29.5% on HMDB-51" in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed": -1}, "seed=-1 must be a whole number >= 0"),
        ({"seed": 1.5}, "seed=1.5 must be a whole number >= 0"),
        ({"num_workers": -2}, "num_workers=-2 must be a whole number >= 0"),
        ({"backbone": "c3d"}, "backbone='c3d' is not valid; choose one of: 'small2d', 'caffenet'"),
        ({"data_root": "/data/ucf101"}, "data_root='/data/ucf101' is given but dataset is"),
        ({"downstream": "hmdb51"}, "downstream='hmdb51' needs downstream_root"),
    ],
)
def test_parameters_that_cannot_work_stop_before_anything_opens(opened, change, message):

    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        open_run("opn", **{**PARAMETERS, **change})
    assert opened == []


def test_a_clip_paper_refuses_a_frame_encoder(opened):

    with pytest.raises(
        ValueError, match="backbone='small2d' is not valid; choose one of: 'small3d'"
    ):
        open_run("vcop", **PARAMETERS)
    assert opened == []


def tiny_ucf101(root, short: str, broken: str):
    """A two-class UCF-101 root of real little videos: groups 1 test, 8-10 train; the video
    `short` has 10 frames, the video `broken` is not a video at all."""
    import numpy as np
    from conftest import write_video

    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 Up\r\n2 Down\r\n")
    train, test = [], []
    for label, cls in enumerate(["Up", "Down"], 1):
        for group in (1, 8, 9, 10):
            rel = f"{cls}/v_{cls}_g{group:02d}_c01.avi"
            frames = np.zeros((10 if rel == short else 70, 32, 40, 3), np.uint8)
            write_video(root / "UCF-101" / rel, frames)
            (test if group == 1 else train).append(rel if group == 1 else f"{rel} {label}")
    (root / "UCF-101" / broken).write_bytes(b"RIFF" + bytes(5000))
    (lists / "trainlist01.txt").write_text("\r\n".join(train) + "\r\n")
    (lists / "testlist01.txt").write_text("\r\n".join(test) + "\r\n")
    return root


def test_unreadable_and_too_short_videos_are_left_out_by_name(tmp_path, capsys, monkeypatch):

    monkeypatch.delenv("SSV_SMOKE", raising=False)
    short, broken = "Down/v_Down_g08_c01.avi", "Up/v_Up_g01_c01.avi"
    root = tiny_ucf101(tmp_path, short=short, broken=broken)
    parameters = {**PARAMETERS, "dataset": "ucf101", "data_root": str(root), "backbone": "small3d"}
    chapter = open_run("vcop", **parameters)
    out = capsys.readouterr().out
    assert "1 of the present videos cannot be read and are left out" in out and broken in out
    assert "1 training videos are shorter than the 59 frames" in out and short in out
    counts = chapter.video_counts()
    assert counts["too_short"] == [short] and list(counts["unreadable"]) == [broken]
    assert counts["evaluation_test_scored"] == 1 and counts["pretext_train"] == 1
    assert "cannot decode" in counts["unreadable"][broken]
    monkeypatch.setenv("SSV_STRICT", "")  # restored after the test: strict=True sets it
    with pytest.raises(Exception, match="v_Up_g01_c01.avi cannot be read"):
        open_run("vcop", **parameters, strict=True)


def test_the_recipe_table_sets_both_presets_side_by_side_and_marks_this_run(opened):
    table = open_run("vcop", **{**PARAMETERS, "backbone": "small3d"}).recipe_table()
    assert table.splitlines()[0] == "| setting | `cpu` preset (this run) | `paper` preset |"
    assert "| encoder | small3d | r3d |" in table
    changed = open_run("vcop", **{**PARAMETERS, "backbone": "small3d", "epochs": 3})
    header, *rows = changed.recipe_table().splitlines()
    assert header.endswith("| this run |") and "| pretext | 40 epochs, batch 16 | 300" in rows[-4]
    assert rows[-4].endswith("| 3 epochs, batch 16 |")
