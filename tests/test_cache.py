"""`ssv data cache`: a resized copy in the same layout, checked, resumable, read like the source."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import write_video

from ssvlib.cli import main
from ssvlib.data import cache
from ssvlib.data.cache import CacheError, make_cache, parse_size
from ssvlib.data.decode import read_all_frames, read_frames, video_info
from ssvlib.data.videos import open_videos

SIZE = (24, 32)


def smooth_video(frames: int, shift: int) -> np.ndarray:
    """A smooth gradient that slides by one pixel a frame, brighter frame by frame: real video's
    kind of content (noise would be a JPEG's worst case), each frame telling its index."""
    y, x = np.mgrid[0:48, 0:64]
    video = [
        np.stack([(x + t + shift) * 2, y * 4, np.full_like(x, 3 * t)], -1) for t in range(frames)
    ]
    return np.clip(video, 0, 255).astype(np.uint8)


@pytest.fixture
def root(tmp_path):
    """A UCF-101-layout root of six smooth 48x64 videos in three groups of two classes."""
    root = tmp_path / "src"
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 Up\n2 Down\n")
    train, test = [], []
    for label, name in enumerate(["Up", "Down"], 1):
        for group in (1, 8, 9):
            rel = f"{name}/v_{name}_g{group:02d}_c01.avi"
            write_video(root / "UCF-101" / rel, smooth_video(60 + group, 5 * group))
            (test if group == 1 else train).append(rel if group == 1 else f"{rel} {label}")
    for n in (1, 2, 3):
        (lists / f"trainlist0{n}.txt").write_text("\n".join(train) + "\n")
        (lists / f"testlist0{n}.txt").write_text("\n".join(test) + "\n")
    return root


def test_the_cache_has_the_layout_the_frames_and_the_pixels(root, tmp_path):
    out = tmp_path / "cache"
    report = make_cache(root, out, size=SIZE, workers=1, progress=False)
    assert report["videos_cached"] == 6 and report["unreadable"] == []
    assert (out / "ucfTrainTestlist" / "trainlist02.txt").read_text() == (
        root / "ucfTrainTestlist" / "trainlist02.txt"
    ).read_text()
    videos = open_videos("ucf101", out, 1, val_groups=0)  # as a chapter does, data_root=OUT
    assert len(videos.train) == 4 and len(videos.test) == 2
    for record in videos.train + videos.test:
        source = root / "UCF-101" / record.rel
        info = video_info(record.path)
        assert info.num_frames == video_info(source).num_frames
        assert (info.height, info.width, info.codec) == (*SIZE, "mjpeg")
        wanted = cache.resize_frames(read_all_frames(source), SIZE).astype(int)
        assert np.abs(read_all_frames(record.path).astype(int) - wanted).mean() < 3


def test_random_access_in_a_cached_video_gives_the_frames_asked_for(root, tmp_path):
    make_cache(root, tmp_path / "cache", size=SIZE, workers=1, progress=False)
    path = tmp_path / "cache" / "UCF-101" / "Up" / "v_Up_g09_c01.avi"
    blue = read_all_frames(path)[..., 2].mean(axis=(1, 2))  # 3 * t: tells the frame
    assert np.all(np.diff(blue) > 0.5)  # every frame tells apart from its neighbours
    rng = np.random.default_rng(0)
    for _ in range(5):
        asked = rng.choice(len(blue), 6).tolist()
        got = read_frames(path, asked)[..., 2].mean(axis=(1, 2))
        np.testing.assert_allclose(got, blue[asked], atol=0.25)


def test_an_interrupted_cache_resumes_without_redoing_a_video(root, tmp_path, monkeypatch):
    out, real, calls = tmp_path / "cache", cache.write_video, []

    def flaky(path, frames, fps):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the third video
        real(path, frames, fps)

    monkeypatch.setattr(cache, "write_video", flaky)
    with pytest.raises(KeyboardInterrupt):
        make_cache(root, out, size=SIZE, workers=1, progress=False)
    finished = sorted(p.name for p in (out / "UCF-101").rglob("*.avi"))
    assert len(finished) == 2 and not list(out.rglob("*.tmp"))  # no half-written video
    report = make_cache(root, out, size=SIZE, workers=1, progress=False)
    assert (report["videos_cached"], report["videos_already_cached"]) == (4, 2)
    assert len(calls) == 3 + 4


def test_a_cache_of_another_size_or_a_bad_check_is_refused(root, tmp_path, monkeypatch):
    make_cache(root, tmp_path / "cache", size=SIZE, workers=1, progress=False)
    with pytest.raises(CacheError, match="already caches ucf101 .* choose another folder"):
        make_cache(root, tmp_path / "cache", size=(32, 40), workers=1, progress=False)
    monkeypatch.setattr(cache, "MAX_MEAN_ERROR", 0.0)  # no re-encoding is that exact
    with pytest.raises(CacheError, match="differs from .* grey levels"):
        make_cache(root, tmp_path / "strict", size=SIZE, workers=1, progress=False)
    assert not list((tmp_path / "strict").rglob("*.avi"))  # a failed check leaves nothing


def test_unreadable_sources_are_listed_and_the_command_says_so(root, tmp_path, capsys):
    (root / "UCF-101" / "Down" / "v_Down_g08_c01.avi").write_bytes(b"RIFF" + bytes(4000))
    out = tmp_path / "cache"
    assert main(["data", "cache", str(root), str(out), "--size", "24x32", "--workers", "1"]) == 1
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["videos_cached"] == 5 and report["unreadable"][0].endswith("v_Down_g08_c01.avi")


def test_sizes_are_read_as_height_by_width():
    assert parse_size("128x171") == (128, 171)
    for bad in ("128", "128x", "8x8", "axb"):
        with pytest.raises(ValueError, match="size"):
            parse_size(bad)


def test_bench_loader_compares_the_dataset_with_decoding_and_the_cache(root, tmp_path, capsys):
    make_cache(root, tmp_path / "cache", size=(64, 80), workers=1, progress=False)
    args = ["bench", "loader", str(root), "--paper", "vcop", "--preset", "cpu", "--samples", "6"]
    assert main([*args, "--passes", "1", "--cache", str(tmp_path / "cache")]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["videos"] == 6 and result["frames_per_sample"] >= 3 * 8
    split = result["ms_per_sample"]
    assert set(split) == {"decode", "transforms", "collate"} and split["decode"] > 0
    total = 1000 / result["dataset_samples_per_s"]
    assert abs(sum(split.values()) - total) < 0.05 * total + 0.02
    assert result["ratio"] == pytest.approx(
        result["dataset_samples_per_s"] / result["decode_only_samples_per_s"], abs=0.02
    )
    assert result["cache_speedup"] == pytest.approx(
        result["cached_samples_per_s"] / result["dataset_samples_per_s"], abs=0.02
    )
