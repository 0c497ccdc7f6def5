"""The built-in dataset: UCF-101 layout, split files, determinism, readable videos, caching."""

from __future__ import annotations

import functools
import re
import threading
from pathlib import Path

import av
import numpy as np
import pytest

from ssvlib.data import synthetic

TINY = dict(groups=4, clips_per_group=(1, 2), frames=(64, 66), height=32, width=40)
NAME = re.compile(r"^(\w+)/v_(\w+)_g(\d\d)_c(\d\d)\.avi$")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A tiny generated dataset, shared by the tests of this file."""
    root = tmp_path_factory.mktemp("tiny") / "data"
    return synthetic.generate(root, seed=3, progress=False, **TINY)


def read_lines(path: Path) -> list[str]:
    """The lines of a split file, after checking that every one ends in CRLF."""
    raw = path.read_bytes()
    assert raw.endswith(b"\r\n"), f"{path.name} does not end in CRLF"
    assert raw.count(b"\n") == raw.count(b"\r\n"), f"{path.name} has bare LF line ends"
    return raw.decode().split("\r\n")[:-1]


def decode(path: Path) -> np.ndarray:
    """All frames of a video, decoded with PyAV."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def videos_on_disk(root: Path) -> set[str]:
    """Relative paths of every .avi under root/UCF-101."""
    return {p.relative_to(root / "UCF-101").as_posix() for p in (root / "UCF-101").rglob("*.avi")}


def test_layout_matches_ucf101(tiny):
    names = videos_on_disk(tiny)
    assert {p.name for p in tiny.iterdir()} >= {"UCF-101", "ucfTrainTestlist"}
    assert {n.split("/")[0] for n in names} == set(synthetic.CLASSES)
    for name in names:
        match = NAME.match(name)
        assert match, name
        assert match[1] == match[2]
        assert 1 <= int(match[3]) <= TINY["groups"]
    clips = {(m[1], int(m[3])): int(m[4]) for m in map(NAME.match, names)}
    lo, hi = TINY["clips_per_group"]
    per_group = {}
    for (cls, group), clip in clips.items():
        per_group[cls, group] = max(per_group.get((cls, group), 0), clip)
    assert len(per_group) == len(synthetic.CLASSES) * TINY["groups"]
    assert set(per_group.values()) <= set(range(lo, hi + 1))


def test_class_index_is_one_based_and_alphabetical(tiny):
    lines = read_lines(tiny / "ucfTrainTestlist" / "classInd.txt")
    assert lines == [f"{i} {name}" for i, name in enumerate(sorted(synthetic.CLASSES), 1)]
    assert list(synthetic.CLASSES) == sorted(synthetic.CLASSES)


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
    test_groups = {int(NAME.match(n)[3]) for n in test}
    train_groups = {int(NAME.match(n)[3]) for n in train_names}
    assert test_groups == set(synthetic.split_test_groups(split, TINY["groups"]))
    assert test_groups.isdisjoint(train_groups)


def test_full_size_splits_test_groups_like_ucf101():
    assert [list(synthetic.split_test_groups(s, 25)) for s in (1, 2, 3)] == [
        list(range(1, 8)),
        list(range(8, 15)),
        list(range(15, 22)),
    ]


def test_clip_counts_vary_within_the_range():
    counts = synthetic.clip_counts(0, synthetic.Settings()).values()
    assert set(counts) == {2, 3, 4}


def test_videos_are_xvid_avi_at_25_fps_with_enough_frames(tiny):
    path = next((tiny / "UCF-101" / "Pendulum").glob("*.avi"))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert container.format.name == "avi"
        assert stream.codec_context.name == "mpeg4"
        assert stream.codec_context.codec_tag.upper() == "XVID"
        assert stream.average_rate == 25
        keyframes = [i for i, p in enumerate(container.demux(stream)) if p.is_keyframe and p.size]
    frames = decode(path)
    assert frames.shape[1:] == (TINY["height"], TINY["width"], 3)
    assert TINY["frames"][0] <= len(frames) <= TINY["frames"][1]
    assert keyframes[:3] == [0, synthetic.GOP_SIZE, 2 * synthetic.GOP_SIZE]


def test_encoded_video_matches_the_rendered_frames(tiny):
    path = tiny / "UCF-101" / "Orbit" / "v_Orbit_g02_c01.avi"
    settings = synthetic.Settings(**TINY)
    rendered = synthetic.render_video("Orbit", group=2, clip=1, seed=3, settings=settings)
    decoded = decode(path)
    assert decoded.shape == rendered.shape
    assert np.abs(decoded.astype(int) - rendered).mean() < 8  # codec loss only


def test_same_seed_same_pixels_and_files(tiny, tmp_path):
    again = synthetic.generate(tmp_path / "again", seed=3, progress=False, **TINY)
    assert videos_on_disk(again) == videos_on_disk(tiny)
    for name in ("trainlist01.txt", "testlist03.txt", "classInd.txt"):
        assert (again / "ucfTrainTestlist" / name).read_bytes() == (
            tiny / "ucfTrainTestlist" / name
        ).read_bytes()
    for rel in sorted(videos_on_disk(tiny))[::7]:
        np.testing.assert_array_equal(
            decode(again / "UCF-101" / rel), decode(tiny / "UCF-101" / rel)
        )


def test_different_seeds_give_different_videos():
    settings = synthetic.Settings(**TINY)
    a = synthetic.render_video("Spin", 1, 1, seed=0, settings=settings)
    b = synthetic.render_video("Spin", 1, 1, seed=1, settings=settings)
    assert a.shape != b.shape or np.abs(a.astype(int) - b).mean() > 5


def test_appearance_belongs_to_the_group_not_the_class():
    settings = synthetic.Settings(**TINY)

    def colour(cls: str, group: int) -> np.ndarray:
        """Mean colour of a video's per-pixel median over time (mostly background)."""
        return np.median(synthetic.render_video(cls, group, 1, 0, settings), axis=0).mean((0, 1))

    same_group = np.abs(colour("Spin", 1) - colour("Shatter", 1)).max()
    other_groups = [np.abs(colour("Spin", 1) - colour("Spin", g)).max() for g in (2, 3, 4)]
    assert same_group < min(other_groups)


def test_every_class_moves_its_object():
    settings = synthetic.Settings(**TINY)
    for cls in synthetic.CLASSES:
        video = synthetic.render_video(cls, 2, 1, 0, settings).astype(int)
        change = np.abs(video[8:] - video[:-8]).mean(-1) > 40  # pixels that changed a lot
        assert change.mean() > 0.005, f"{cls} barely moves"


def test_class_table_has_both_kinds():
    kinds = [spec.time_symmetric for spec in synthetic.CLASSES.values()]
    assert len(kinds) == 10 and 0 < sum(kinds) < 10
    assert all(spec.description for spec in synthetic.CLASSES.values())


def test_bad_settings_are_refused_with_a_clear_message(tmp_path):
    with pytest.raises(ValueError, match="groups"):
        synthetic.generate(tmp_path / "x", groups=2, progress=False)
    with pytest.raises(ValueError, match="class_name"):
        synthetic.render_video("Juggling")
    assert not (tmp_path / "x").exists()


def test_existing_folder_is_not_overwritten(tiny):
    with pytest.raises(FileExistsError, match=str(tiny)):
        synthetic.generate(tiny, seed=3, progress=False, **TINY)


def test_interrupted_generation_leaves_nothing_behind(tmp_path, monkeypatch):
    calls = []

    def failing_write(path, frames, fps=25):
        calls.append(path)
        if len(calls) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "write_avi", failing_write)
    with pytest.raises(KeyboardInterrupt):
        synthetic.generate(tmp_path / "data", progress=False, **TINY)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def tiny_builtin(tmp_path, monkeypatch) -> list:
    """Point the cache at tmp_path and make builtin_root generate the tiny set; count calls."""
    monkeypatch.setenv("SSV_CACHE", str(tmp_path))
    calls = []
    real = functools.partial(synthetic.generate, **TINY)

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(synthetic, "generate", counting)
    return calls


def test_builtin_root_generates_once_then_reuses(tmp_path, tiny_builtin):
    root = synthetic.builtin_root(seed=5, progress=False)
    assert root == tmp_path / f"builtin-v{synthetic.VERSION}-seed5"
    assert (root / "UCF-101").is_dir() and (root / "ucfTrainTestlist" / "classInd.txt").is_file()
    stamp = (root / "synthetic.json").stat().st_mtime_ns
    assert synthetic.builtin_root(seed=5, progress=False) == root
    assert len(tiny_builtin) == 1
    assert (root / "synthetic.json").stat().st_mtime_ns == stamp
    assert synthetic.read_info(root)["seed"] == 5


def test_builtin_root_called_twice_at_once_generates_once(tmp_path, tiny_builtin):
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(synthetic.builtin_root(7, progress=False)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0] == results[1]
    assert len(tiny_builtin) == 1
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_generated_set_loads_with_the_ucf101_index(tiny):
    ucf101 = pytest.importorskip("ssvlib.data.ucf101")
    split = ucf101.load_split(tiny, 1)
    assert split.classes == list(synthetic.CLASSES)
    assert not split.missing
    assert len(split.train) + len(split.test) == len(videos_on_disk(tiny))
