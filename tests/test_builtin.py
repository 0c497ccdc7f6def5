"""The built-in dataset on disk: UCF-101 layout, split files, determinism, safe writes, cache."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np
import pytest

from ssvlib.data import builtin, ucf101
from ssvlib.data.decode import read_all_frames
from ssvlib.data.synthetic import CLASSES, Settings, render_video

TINY = dict(groups=4, clips_per_group=(1, 2), frames=(64, 66), height=32, width=40)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A tiny generated dataset, shared by the tests of this file."""
    root = tmp_path_factory.mktemp("tiny") / "data"
    return builtin.generate(root, seed=3, progress=False, **TINY)


def read_lines(path: Path) -> list[str]:
    """The lines of a split file, after checking that every one ends in CRLF."""
    raw = path.read_bytes()
    assert raw.endswith(b"\r\n"), f"{path.name} does not end in CRLF"
    assert raw.count(b"\n") == raw.count(b"\r\n"), f"{path.name} has bare LF line ends"
    return raw.decode().split("\r\n")[:-1]


def videos_on_disk(root: Path) -> set[str]:
    """Relative paths of every .avi under root/UCF-101."""
    videos = root / ucf101.VIDEO_DIR
    return {p.relative_to(videos).as_posix() for p in videos.rglob("*.avi")}


def files_on_disk(root: Path) -> dict[str, bytes]:
    """Every file under root and its bytes, but synthetic.json (it records the time taken)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "synthetic.json"
    }


def test_layout_matches_ucf101(tiny):
    assert {p.name for p in tiny.iterdir()} == {"UCF-101", "ucfTrainTestlist", "synthetic.json"}
    per_group: dict[tuple[str, int], list[int]] = {}
    for name in videos_on_disk(tiny):
        folder, file = name.split("/")
        assert file.startswith(f"v_{folder}_g")
        group, clip = ucf101.parse_video_name(file)
        per_group.setdefault((folder, group), []).append(clip)
    assert {cls for cls, _ in per_group} == set(CLASSES)
    assert {group for _, group in per_group} == set(range(1, TINY["groups"] + 1))
    lo, hi = TINY["clips_per_group"]
    for clips in per_group.values():  # clips numbered 1..n, lo <= n <= hi
        assert sorted(clips) == list(range(1, len(clips) + 1)) and lo <= len(clips) <= hi


def test_class_index_is_one_based_and_alphabetical(tiny):
    lines = read_lines(tiny / "ucfTrainTestlist" / "classInd.txt")
    assert lines == [f"{i} {name}" for i, name in enumerate(sorted(CLASSES), 1)]


@pytest.mark.parametrize("split", [1, 2, 3])
def test_split_files(tiny, split):
    folder = tiny / "ucfTrainTestlist"
    labels = {ln.split()[1]: int(ln.split()[0]) for ln in read_lines(folder / "classInd.txt")}
    train = [ln.split(" ") for ln in read_lines(folder / f"trainlist0{split}.txt")]
    test = read_lines(folder / f"testlist0{split}.txt")
    assert all(len(row) == 2 and int(row[1]) == labels[row[0].split("/")[0]] for row in train)
    assert all(" " not in line for line in test)
    train_names = [row[0] for row in train]
    assert len(set(train_names)) == len(train_names) and len(set(test)) == len(test)
    assert set(train_names).isdisjoint(test)
    assert set(train_names) | set(test) == videos_on_disk(tiny)
    test_groups = {ucf101.parse_video_name(n)[0] for n in test}
    train_groups = {ucf101.parse_video_name(n)[0] for n in train_names}
    assert test_groups == set(builtin.split_test_groups(split, TINY["groups"]))
    assert test_groups.isdisjoint(train_groups)


def test_full_size_splits_test_groups_like_ucf101():
    assert [list(builtin.split_test_groups(s, 25)) for s in (1, 2, 3)] == [
        list(range(1, 8)),
        list(range(8, 15)),
        list(range(15, 22)),
    ]


def test_clip_counts_vary_within_the_range():
    counts = builtin.clip_counts(0, Settings()).values()
    assert set(counts) == {2, 3, 4}


def test_videos_hold_the_rendered_frames(tiny):
    decoded = read_all_frames(tiny / "UCF-101" / "Orbit" / "v_Orbit_g02_c01.avi", "pyav")
    rendered = render_video("Orbit", group=2, clip=1, seed=3, settings=Settings(**TINY))
    assert decoded.shape == rendered.shape
    assert np.abs(decoded.astype(int) - rendered).mean() < 8  # codec loss only


def test_same_seed_gives_the_same_files(tiny, tmp_path):
    again = builtin.generate(tmp_path / "again", seed=3, progress=False, **TINY)
    assert files_on_disk(again) == files_on_disk(tiny)
    assert builtin.read_info(again)["settings"] == builtin.read_info(tiny)["settings"]


def test_generated_set_loads_with_the_ucf101_index(tiny):
    split = ucf101.load_split(tiny, 1)
    assert split.classes == list(CLASSES)
    assert not split.missing
    assert len(split.train) + len(split.test) == len(videos_on_disk(tiny))
    record = split.train[0]
    assert (record.class_name, record.label) == ("BounceToRest", 0)


def test_bad_settings_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="groups"):
        builtin.generate(tmp_path / "x", groups=2, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_is_not_overwritten_unless_asked(tiny, tmp_path):
    with pytest.raises(FileExistsError, match=str(tiny)):
        builtin.generate(tiny, seed=3, progress=False, **TINY)
    root = tmp_path / "data"
    root.mkdir()
    (root / "old.txt").write_text("old")
    builtin.generate(root, seed=3, overwrite=True, progress=False, **TINY)
    assert files_on_disk(root) == files_on_disk(tiny)
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no old or partial folder left


def test_interrupted_generation_leaves_nothing_behind(tmp_path, monkeypatch):
    calls = []

    def failing_write(path, frames):
        calls.append(path)
        if len(calls) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(builtin, "write_avi", failing_write)
    with pytest.raises(KeyboardInterrupt):
        builtin.generate(tmp_path / "data", progress=False, **TINY)
    assert len(calls) == 5 and list(tmp_path.iterdir()) == []


@pytest.fixture
def tiny_builtin(tmp_path, monkeypatch) -> list:
    """Point the cache at tmp_path and make builtin_root generate the tiny set; count calls."""
    monkeypatch.setenv("SSV_CACHE", str(tmp_path))
    calls = []
    real = functools.partial(builtin.generate, **TINY)

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(builtin, "generate", counting)
    return calls


def test_builtin_root_generates_once_then_reuses(tmp_path, tiny_builtin):
    root = builtin.builtin_root(seed=5, progress=False)
    assert root == tmp_path / f"builtin-v{builtin.VERSION}-seed5"
    assert (root / "UCF-101").is_dir() and (root / "ucfTrainTestlist" / "classInd.txt").is_file()
    stamp = (root / "synthetic.json").stat().st_mtime_ns
    assert builtin.builtin_root(seed=5, progress=False) == root
    assert len(tiny_builtin) == 1
    assert (root / "synthetic.json").stat().st_mtime_ns == stamp
    assert builtin.read_info(root)["seed"] == 5


def test_builtin_root_called_twice_at_once_generates_once(tmp_path, tiny_builtin):
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(builtin.builtin_root(7, progress=False)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0] == results[1]
    assert len(tiny_builtin) == 1
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_builtin_root_clears_a_partial_folder_left_by_a_killed_run(tmp_path, tiny_builtin):
    stale = tmp_path / f".builtin-v{builtin.VERSION}-seed2.partial-abc"
    (stale / "UCF-101").mkdir(parents=True)
    root = builtin.builtin_root(seed=2, progress=False)
    assert not stale.exists() and builtin.read_info(root)["seed"] == 2
