"""Video readers: both backends give the same frames; bad files give errors that name them."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import numbered_frames, write_video

from ssvlib.data.decode import VideoError, read_all_frames, read_frames, video_info


def brightness(frames: np.ndarray) -> np.ndarray:
    """Mean level of each frame."""
    return frames.reshape(len(frames), -1).mean(axis=1)


def backends() -> list[str]:
    """The backends installed here."""
    from ssvlib.data.decode import has_decord

    return ["pyav", "decord"] if has_decord() else ["pyav"]


@pytest.mark.parametrize("backend", backends())
def test_frames_come_back_in_the_order_asked(numbered_video, backend):
    indices = [30, 2, 2, 39, 0, 17]
    frames = read_frames(numbered_video, indices, backend)
    assert frames.shape == (6, 48, 64, 3) and frames.dtype == np.uint8
    expected = np.array(indices) * 255 / 39
    assert np.abs(brightness(frames) - expected).max() < 4


def test_info_counts_frames_and_rate(numbered_video):
    info = video_info(numbered_video)
    assert (info.num_frames, info.height, info.width) == (40, 48, 64)
    assert info.fps == pytest.approx(25.0)
    assert info.keyframes[0] == 0 and info.seekable


@pytest.mark.skipif(len(backends()) < 2, reason="decord is not installed here")
def test_backends_agree_on_a_whole_video(numbered_video):
    a = read_all_frames(numbered_video, "pyav").astype(int)
    b = read_all_frames(numbered_video, "decord").astype(int)
    assert a.shape == b.shape and np.abs(a - b).max() <= 2


def test_frame_past_the_end_names_the_file(numbered_video):
    with pytest.raises(VideoError, match="numbered.avi has 40 frames; frame 40"):
        read_frames(numbered_video, [0, 40])


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(VideoError, match="gone.avi does not exist"):
        read_frames(tmp_path / "gone.avi", [0])
    (tmp_path / "empty.avi").write_bytes(b"")
    with pytest.raises(VideoError, match="empty.avi is empty"):
        video_info(tmp_path / "empty.avi")


@pytest.mark.parametrize("backend", backends())
def test_corrupt_file_names_the_file(tmp_path, backend):
    path = tmp_path / "noise.avi"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match="noise.avi"):
        read_frames(path, [0], backend)


def test_truncated_file_is_reported_as_truncated(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (60, 48, 64, 3), dtype=np.uint8)
    path = write_video(tmp_path / "cut.avi", frames)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="cut.avi is truncated"):
        video_info(path)


def avi_with_a_silent_packet(path, count: int = 40, at: int = 15):
    """A numbered-frames AVI whose packet `at` is replaced by the six bytes of the packet in
    UCF-101's v_Kayaking_g12_c03 that decodes to nothing: `count` packets, `count - 1` frames."""
    import av

    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.gop_size = 12
        written = 0
        for frame in [*numbered_frames(count), None]:
            image = None if frame is None else av.VideoFrame.from_ndarray(frame, format="rgb24")
            for packet in stream.encode(image):
                if written == at:
                    silent = av.Packet(bytes.fromhex("000001b65c4f"))
                    silent.pts, silent.dts, silent.time_base = (
                        packet.pts,
                        packet.dts,
                        packet.time_base,
                    )
                    silent.stream, packet = stream, silent
                container.mux(packet)
                written += 1
    return path


@pytest.mark.parametrize("backend", backends())
def test_a_packet_that_decodes_to_nothing_shifts_no_frame(tmp_path, backend):
    path = avi_with_a_silent_packet(tmp_path / "hole.avi")
    reference = sequential(path).astype(int)
    info = video_info(path)
    assert (info.packets, info.num_frames, len(reference)) == (40, 39, 39)
    asked = [0, 14, 15, 16, 30, 38]  # before the hole, across it, and the last frame
    assert np.abs(read_frames(path, asked, backend).astype(int) - reference[asked]).max() <= 2
    with pytest.raises(VideoError, match="hole.avi has 39 frames; frame 39"):
        read_frames(path, [39], backend)


def test_changed_file_is_not_served_from_the_cache(tmp_path):
    path = write_video(tmp_path / "v.avi", numbered_frames(20))
    assert video_info(path).num_frames == 20
    write_video(path, numbered_frames(30))
    os.utime(path, ns=(1, 1))  # a different mtime, as any rewrite gives
    assert video_info(path).num_frames == 30


def test_unknown_backend_lists_the_valid_ones(numbered_video):
    with pytest.raises(ValueError, match="'auto', 'decord', 'pyav'"):
        read_frames(numbered_video, [0], backend="opencv")


def sequential(path) -> np.ndarray:
    """Every frame in decoding order, by plain PyAV without ssvlib: the reference."""
    import av

    with av.open(str(path), metadata_errors="ignore") as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def real_clips() -> list:
    """Every real UCF-101 and HMDB-51 clip beside the checkout (none in a user's clone)."""
    from conftest import real_data_root, real_hmdb51_root

    roots = [(real_data_root(), "UCF-101"), (real_hmdb51_root(), "videos")]
    return [p for root, sub in roots if root for p in sorted((root / sub).rglob("*.avi"))]


@pytest.mark.skipif(
    not real_clips(),
    reason="no real clips: set SSV_REAL_DATA and SSV_REAL_HMDB51 (CI uses ../shared)",
)
@pytest.mark.parametrize("path", real_clips(), ids=lambda p: p.name[:40])
def test_random_access_matches_sequential_decoding_on_every_real_clip(path):
    reference = sequential(path).astype(int)
    info = video_info(path)
    assert info.num_frames == len(reference)  # frames that decode, not what the header says
    rng = np.random.default_rng(0)
    start = int(rng.integers(0, max(1, info.num_frames - 64)))
    last = info.num_frames - 1
    asked_lists = [  # a VCOP-shaped run, scattered frames, and the last frame alone
        [0, last, *range(start, min(start + 64, last), 3)],
        rng.choice(info.num_frames, 8, replace=False).tolist(),
        [last],
    ]
    for backend in backends():
        for asked in asked_lists:
            frames = read_frames(path, asked, backend).astype(int)
            assert np.abs(frames - reference[asked]).max() <= 2, (
                f"{backend} differs on {path.name} at {asked[:3]}"
            )


def test_real_clip_sizes_are_as_published(real_root, real_hmdb51):
    # UCF-101 as its paper publishes it: 320x240, 25 fps (some 29.97), clips of 1.06 to 71.04 s.
    ucf = sorted((real_root / "UCF-101").rglob("*.avi"))
    hmdb = sorted((real_hmdb51 / "videos").rglob("*.avi"))
    assert len(ucf) >= 19 and len(hmdb) >= 6
    for path in ucf:
        info = video_info(path)
        assert (info.height, info.width) == (240, 320), path.name
        assert info.fps == pytest.approx(25.0) or info.fps == pytest.approx(29.97, abs=0.01)
        assert 1.0 <= info.num_frames / info.fps <= 71.1, path.name
    for path in hmdb:  # each HMDB-51 clip decodes one frame fewer than its header announces
        info = video_info(path)
        assert info.height == 240 and info.packets == info.num_frames + 1


def avi_with_metadata(path, title: bytes, comment: bytes):
    """A small AVI whose stream title and file comment are the given raw bytes (same length
    as the placeholders written first)."""
    import av

    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.metadata["title"] = "T" * len(title)
        container.metadata["comment"] = "C" * len(comment)
        for frame in numbered_frames(12):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = path.read_bytes()
    data = data.replace(b"T" * len(title), title).replace(b"C" * len(comment), comment)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("backend", backends())
def test_metadata_that_is_not_utf8_still_opens(tmp_path, backend):
    import av

    path = avi_with_metadata(tmp_path / "latin1.avi", b"Caf\xe9 \xff\xfe", b"\xc3\x28\xa0")
    with pytest.raises(UnicodeDecodeError):  # what a default PyAV open does with this file
        av.open(str(path)).close()
    assert video_info(path).num_frames == 12
    assert read_frames(path, [0, 11], backend).shape == (2, 48, 64, 3)


def test_decoded_frame_counts_are_cached_on_disk(real_hmdb51, monkeypatch, tmp_path):
    from ssvlib.data import decode

    monkeypatch.setenv("SSV_CACHE", str(tmp_path))
    path = next((real_hmdb51 / "videos").rglob("*.avi"))
    decode._video_info.cache_clear()
    counted = video_info(path)
    assert (tmp_path / "video-info.sqlite").is_file()

    def no_decoding(path):
        raise AssertionError(f"{path} decoded again instead of read from the cache")

    monkeypatch.setattr(decode, "_probe", no_decoding)
    decode._video_info.cache_clear()  # a new process, as far as the in-memory cache goes
    assert video_info(path) == counted


def test_small_frames_are_read_by_opencv_with_the_same_pixels(tmp_path, monkeypatch):
    from ssvlib.data import decode

    rng = np.random.default_rng(0)
    small = write_video(tmp_path / "small.avi", rng.integers(0, 256, (30, 48, 64, 3), np.uint8))
    large = write_video(tmp_path / "large.avi", rng.integers(0, 256, (6, 144, 176, 3), np.uint8))
    asked = [29, 3, 3, 17, 0]
    by_pyav = read_frames(small, asked, "pyav")
    used = []
    real = decode._opencv_frames
    monkeypatch.setattr(decode, "_opencv_frames", lambda *a: used.append(a[0]) or real(*a))
    assert np.array_equal(read_frames(small, asked), by_pyav)  # "auto": OpenCV, same pixels
    read_frames(large, [0, 5])
    assert used == [small]  # 144x176 is above SMALL_FRAME: PyAV
