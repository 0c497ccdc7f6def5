"""The UCF-101 index: split files, labels, groups, missing videos; on real files when present."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ssvlib.data.index import present
from ssvlib.data.ucf101 import UCF101Error, load_classes, load_split, parse_video_name

CLASSES = ["ApplyEyeMakeup", "HandstandPushups", "Biking"]


def make_root(tmp_path: Path, *, crlf: bool = True, drop: str | None = None) -> Path:
    """A three-class root in UCF-101's layout, with split 1 testing groups 1-2."""
    end = "\r\n" if crlf else "\n"
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text(
        "".join(f"{i} {c}{end}" for i, c in enumerate(CLASSES, 1)), encoding="utf-8"
    )
    train, test = [], []
    for label, cls in enumerate(CLASSES, 1):
        stem = "HandStandPushups" if cls == "HandstandPushups" else cls
        for group in (1, 2, 3, 4):
            rel = f"{cls}/v_{stem}_g{group:02d}_c01.avi"
            (tmp_path / "UCF-101" / cls).mkdir(parents=True, exist_ok=True)
            if rel != drop:
                (tmp_path / "UCF-101" / rel).write_bytes(b"x")
            (test if group <= 2 else train).append(rel)
            if group > 2:
                train[-1] += f" {label}"
    for n in (1, 2, 3):
        (lists / f"trainlist0{n}.txt").write_text("".join(r + end for r in train), encoding="utf-8")
        (lists / f"testlist0{n}.txt").write_text("".join(r + end for r in test), encoding="utf-8")
    return tmp_path


def test_labels_are_zero_based_and_taken_from_the_folder(tmp_path):
    split = load_split(make_root(tmp_path))
    assert split.classes == CLASSES
    assert {r.class_name: r.label for r in split.train} == {c: i for i, c in enumerate(CLASSES)}
    handstand = [r for r in split.test if r.class_name == "HandstandPushups"]
    assert handstand and all(r.label == 1 for r in handstand)
    assert handstand[0].rel.startswith("HandstandPushups/v_HandStandPushups_")


def test_a_group_on_both_sides_of_a_split_is_refused_by_name(tmp_path):
    root = make_root(tmp_path)
    test_list = root / "ucfTrainTestlist" / "testlist01.txt"
    crossing = "ApplyEyeMakeup/v_ApplyEyeMakeup_g03_c01.avi"  # group 3 trains
    test_list.write_text(test_list.read_text() + crossing + "\r\n")
    with pytest.raises(UCF101Error, match="group 3 of ApplyEyeMakeup on both sides") as err:
        load_split(root)
    assert "move the whole group to one side" in str(err.value)
    assert len(load_split(root, split=2).test) == 6  # the other splits are untouched


def test_crlf_and_lf_files_read_the_same(tmp_path):
    a = load_split(make_root(tmp_path / "a", crlf=True))
    b = load_split(make_root(tmp_path / "b", crlf=False))
    assert [r.rel for r in a.train + a.test] == [r.rel for r in b.train + b.test]
    assert not any(r.rel.endswith("\r") for r in a.train + a.test)


def test_groups_and_clips_are_parsed(tmp_path):
    split = load_split(make_root(tmp_path))
    assert {r.group for r in split.test} == {1, 2} and {r.group for r in split.train} == {3, 4}
    assert parse_video_name("v_HandStandPushups_g08_c04.avi") == (8, 4)
    with pytest.raises(UCF101Error, match="not a UCF-101 video name"):
        parse_video_name("clip.avi")


def test_missing_split_file_names_the_file(tmp_path):
    root = make_root(tmp_path)
    (root / "ucfTrainTestlist" / "testlist02.txt").unlink()
    with pytest.raises(UCF101Error, match="testlist02.txt"):
        load_split(root, split=2)


def test_wrong_root_says_what_a_root_holds(tmp_path):
    root = make_root(tmp_path)
    with pytest.raises(UCF101Error, match="pass its parent"):
        load_split(root / "UCF-101")
    with pytest.raises(UCF101Error, match="does not exist"):
        load_split(tmp_path / "nowhere")
    with pytest.raises(UCF101Error, match="splits 1, 2 and 3"):
        load_split(root, split=4)


def test_label_that_contradicts_class_index_is_refused(tmp_path):
    root = make_root(tmp_path)
    path = root / "ucfTrainTestlist" / "trainlist01.txt"
    path.write_text(path.read_text().replace("_g03_c01.avi 1", "_g03_c01.avi 3", 1))
    with pytest.raises(UCF101Error, match="trainlist01.txt"):
        load_split(root)


# --- the official files (CI: ../shared/ucf101) ---

OFFICIAL_COUNTS = {1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)}


def test_official_split_file_checksum(real_root):
    data = (real_root / "ucfTrainTestlist" / "trainlist01.txt").read_bytes()
    assert hashlib.sha256(data).hexdigest() == (
        "f7a4d7abc05147b921c17fc227d731197c3583f29945d1f1d46bce830d1b9f12"
    )


@pytest.mark.parametrize("number", [1, 2, 3])
def test_official_split_counts_groups_and_coverage(real_root, number):
    split = load_split(real_root, number, check_files=False)
    assert len(split.classes) == 101
    assert (len(split.train), len(split.test)) == OFFICIAL_COUNTS[number]
    everything = [r.rel for r in split.train + split.test]
    assert len(everything) == len(set(everything)) == 13320
    train_groups = {(r.class_name, r.group) for r in split.train}
    test_groups = {(r.class_name, r.group) for r in split.test}
    assert not train_groups & test_groups
    expected = set(range(7 * number - 6, 7 * number + 1))
    assert {r.group for r in split.test} == expected


def test_real_clips_are_found_and_the_rest_reported_missing(real_root):
    classes = load_classes(real_root)
    split = load_split(real_root, 1)
    on_disk = sorted(
        p.relative_to(real_root / "UCF-101").as_posix()
        for p in (real_root / "UCF-101").rglob("*.avi")
    )
    assert on_disk, "no real clip found"
    assert sorted(r.rel for r in present(split.train + split.test)) == on_disk
    assert classes.index("HandstandPushups") == 36
    assert len(split.missing) == 13320 - len(on_disk)
