"""The ssv command: `ssv data check` and `ssv bench decode` print JSON and set the exit status."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import write_video

from ssvlib.cli import main
from ssvlib.data import builtin


def tiny_root(tmp_path, corrupt: bool = False):
    """A two-class UCF-101-layout root with real (tiny) videos."""
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 Up\r\n2 Down\r\n")
    rng = np.random.default_rng(0)
    train, test = [], []
    for label, cls in enumerate(["Up", "Down"], 1):
        for group in (1, 8):
            rel = f"{cls}/v_{cls}_g{group:02d}_c01.avi"
            frames = rng.integers(0, 255, (70, 32, 40, 3), dtype=np.uint8)
            write_video(tmp_path / "UCF-101" / rel, frames)
            (test if group == 1 else train).append(rel if group == 1 else f"{rel} {label}")
    for n in (1, 2, 3):
        (lists / f"trainlist0{n}.txt").write_text("\r\n".join(train) + "\r\n")
        (lists / f"testlist0{n}.txt").write_text("\r\n".join(test) + "\r\n")
    if corrupt:
        (tmp_path / "UCF-101" / "Up" / "v_Up_g01_c01.avi").write_bytes(b"RIFF" + bytes(5000))
    return tmp_path


def test_synth_writes_the_built_in_dataset_where_asked(tmp_path, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(builtin, "generate", lambda root, seed: calls.append((root, seed)) or root)
    assert main(["data", "synth", str(tmp_path / "data"), "--seed", "4"]) == 0
    assert calls == [(tmp_path / "data", 4)]
    assert json.loads(capsys.readouterr().out) == {"root": str(tmp_path / "data"), "seed": 4}


def test_check_passes_on_a_complete_root(tmp_path, capsys):
    assert main(["data", "check", str(tiny_root(tmp_path))]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["classes"], report["train"], report["test"]) == (2, 2, 2)
    assert report["missing"] == [] and report["unreadable"] == [] and report["split"] == 1


def test_check_fails_on_missing_and_unreadable_videos(tmp_path, capsys):
    root = tiny_root(tmp_path, corrupt=True)
    (root / "UCF-101" / "Down" / "v_Down_g08_c01.avi").unlink()
    assert main(["data", "check", str(root), "--backend", "pyav"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["missing"] == ["Down/v_Down_g08_c01.avi"]
    assert report["unreadable"] == ["Up/v_Up_g01_c01.avi"]


def test_check_names_videos_too_short_for_a_recipe(tmp_path, capsys):
    root = tiny_root(tmp_path)
    write_video(root / "UCF-101" / "Up" / "v_Up_g08_c01.avi", np.zeros((3, 32, 40, 3), np.uint8))
    assert main(["data", "check", str(root)]) == 0  # short clips are real data, not errors
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["min_frames"]["vcop (paper)"] == 64
    [short] = report["short"]  # the 70-frame videos fit every recipe; the 3-frame one none
    assert short["video"] == "Up/v_Up_g08_c01.avi" and short["frames"] == 3
    assert set(short["too_short_for"]) == set(report["min_frames"])
    assert "the longest: vcop (paper), 64 frames" in captured.err


def test_check_on_a_wrong_root_explains(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path)]) == 2
    assert "ucfTrainTestlist" in capsys.readouterr().err


def test_check_on_the_real_files(real_root, capsys):
    code = main(["data", "check", str(real_root), "--split", "2"])
    report = json.loads(capsys.readouterr().out)
    assert (report["classes"], report["train"], report["test"]) == (101, 9586, 3734)
    assert report["unreadable"] == [] and report["present"] >= 19
    assert code == 1 and len(report["missing"]) == 13320 - report["present"]


@pytest.mark.parametrize("split", [1, 2, 3])
def test_check_on_the_real_hmdb51_files(real_hmdb51, capsys, split):
    code = main(["data", "check", str(real_hmdb51), "--dataset", "hmdb51", "--split", str(split)])
    report = json.loads(capsys.readouterr().out)
    assert (report["classes"], report["train"], report["test"]) == (51, 3570, 1530)
    clips = len(list((real_hmdb51 / "videos").rglob("*.avi")))
    assert report["present"] == clips >= 6 and report["unreadable"] == []  # last frames decode too
    assert code == 1 and len(report["missing"]) == 5100 - clips


def test_check_hmdb51_on_a_ucf101_root_explains(tmp_path, capsys):
    assert main(["data", "check", str(tiny_root(tmp_path)), "--dataset", "hmdb51"]) == 2
    assert "testTrainMulti_7030_splits" in capsys.readouterr().err


def test_bench_decode_prints_both_rates(tmp_path, capsys):
    root = tiny_root(tmp_path)
    assert main(["bench", "decode", str(root), "--repeats", "1"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["videos"] == 4 and result["whole_video_samples_per_s"] > 0
    ratio = result["ssvlib_samples_per_s"] / result["whole_video_samples_per_s"]
    assert abs(result["ratio"] - ratio) < 0.02


@pytest.mark.parametrize("dataset", ["ucf101", "hmdb51"])
def test_download_fetches_the_dataset_asked_for(tmp_path, capsys, monkeypatch, dataset):
    from ssvlib.data import download

    calls = []
    for name in ("download_ucf101", "download_hmdb51"):
        monkeypatch.setattr(
            download,
            name,
            lambda root, videos, trust_download, name=name: (
                calls.append((name, videos, trust_download)) or root
            ),
        )
    assert main(["data", "download", str(tmp_path), "--dataset", dataset, "--splits-only"]) == 0
    assert calls == [(f"download_{dataset}", False, False)]
