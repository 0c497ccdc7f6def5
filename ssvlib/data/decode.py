"""Video readers: decode only the frames a sample needs.

Every way gives the same output, a uint8 RGB array shaped (frames, height, width, 3). The
default (``auto``) chooses per video (`read_frames`):

- ``pyav``: seeks to the keyframe before the first frame asked for where the file's timestamps
  are frame indices, else decodes from the start counting frames (some UCF-101 files have
  B-frames whose timestamps cannot be trusted); it stops after the last frame asked for and
  converts to RGB only the frames asked for. Frames larger than `SMALL_FRAME` pixels.
- OpenCV, in order from the first frame: frames of at most `SMALL_FRAME` pixels (the built-in
  videos), where PyAV's per-frame cost outweighs what its seeking saves.
- motion JPEG (`ssv data cache`): each frame is a JPEG of its own; only those asked for are
  decoded, with OpenCV's JPEG decoder.
- ``decord`` (on request, where its wheel exists): seeks and decodes in C++. On UCF-101's clips it
  was slower than the PyAV path here (`ssv bench decode`), and it sometimes returns a wrong last
  frame for B-frame files, so its last frames are read with PyAV; files with packets that decode
  to nothing (below) are read with PyAV throughout.

Real files break readers in three known ways, and each is handled here:

- The header, and even the packets, announce more frames than decode. HMDB-51's DivX files carry
  a one-byte placeholder packet (packed bitstream) that decodes to nothing; one UCF-101 clip in
  our sample (v_Kayaking_g12_c03) holds a six-byte packet mid-file that decodes to nothing, so
  every frame after it sits one index before its timestamp. `video_info` therefore decodes each
  file once, without colour conversion (about 14 ms for a UCF-101 clip), and reports the frames
  that decode; frames are numbered in decoding order, as a sequential reader numbers them, and
  a file whose timestamps are not those numbers is never read by seeking. The result is cached
  on disk per file (path, size, mtime) under ``cache_dir()``.
- Stream metadata that is not valid UTF-8 (HMDB-51 titles written by Windows tools): metadata is
  decoded leniently, since nothing here reads it.
- Random access on B-frame files returns wrong frames in several decoders; see `_pyav_frames`.

Audio tracks are ignored. A missing, empty, truncated or corrupt file raises `VideoError` naming
the file.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

BACKENDS = ("auto", "decord", "pyav")
_local = threading.local()  # per thread: the PyAV reformatter and the frame-count cache
_TAIL = 4  # decord reads of the last frames are unreliable; see _decord_frames
SMALL_FRAME = 128 * 171  # pixels; frames this small decode faster with OpenCV, see read_frames


def _open(path: str | Path):
    """Open a file with PyAV; metadata that is not valid UTF-8 is read leniently, not refused."""
    import av

    return av.open(str(path), metadata_errors="ignore")


class VideoError(RuntimeError):
    """A video could not be opened or decoded; the message names the file and what to do."""


@dataclass(frozen=True)
class VideoInfo:
    """What a sampler needs to know about a video before decoding any frame."""

    num_frames: int
    fps: float
    height: int
    width: int
    keyframes: tuple[int, ...] = (0,)
    seekable: bool = False
    packets: int = 0  # video packets; more than num_frames where some decode to nothing
    codec: str = ""


@functools.cache
def has_decord() -> bool:
    """True when the decord package can be imported."""
    return importlib.util.find_spec("decord") is not None


def resolve_backend(backend: str = "auto") -> str:
    """Turn 'auto' into 'pyav' (measured faster here, see the module docstring); check the name."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not valid; choose one of {BACKENDS}")
    if backend == "auto":
        return "pyav"
    if backend == "decord" and not has_decord():
        raise ValueError("backend='decord' asked for, but decord is not installed; use 'pyav'")
    return backend


def _checked(path: str | Path) -> Path:
    """The path as a Path, after checking that the file exists and is not empty."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(
            f"video file {path} does not exist (check the data root, or run `ssv data check`)"
        )
    if path.stat().st_size == 0:
        raise VideoError(f"video file {path} is empty: delete it and extract or download it again")
    return path


def _broken(path: Path, err: Exception) -> VideoError:
    """The error for a file the decoder rejects."""
    return VideoError(
        f"cannot decode {path}: {type(err).__name__}: {err}. The file is corrupt or truncated: "
        f"delete it and extract or download it again"
    )


def video_info(path: str | Path) -> VideoInfo:
    """Frame count, frame rate and size of a video (cached per file).

    `num_frames` is the number of frames that decode, which can be fewer than the header announces
    (see the module docstring). A file holding fewer packets than its header announces is reported
    as truncated.
    """
    path = _checked(path)
    stat = path.stat()
    return _video_info(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=65536)
def _video_info(path: str, size: int, mtime_ns: int) -> VideoInfo:
    """`video_info` of one version of a file (size and mtime make a changed file a new entry):
    from the on-disk cache where this version was probed before, else `_probe`d and stored."""
    key = f"{_INFO_VERSION}|{path}|{size}|{mtime_ns}"
    try:
        row = _info_db().execute("SELECT info FROM info WHERE key = ?", (key,)).fetchone()
    except sqlite3.Error:  # the cache only saves time: probe when it cannot be read
        row = None
    if row is not None:
        fields = json.loads(row[0])
        return VideoInfo(**{**fields, "keyframes": tuple(fields["keyframes"])})
    info = _probe(path)
    try:
        with _info_db() as db:
            db.execute("INSERT OR REPLACE INTO info VALUES (?, ?)", (key, json.dumps(asdict(info))))
    except sqlite3.Error:
        pass
    return info


def _probe(path: str) -> VideoInfo:
    """Read every packet of the video stream once and decode it (no colour conversion): the
    frames that decode, which packets are keyframes, and whether timestamps are frame indices.

    A frame count read off packets alone is wrong for some real files: HMDB-51's one-byte
    placeholders decode to nothing, and so does a six-byte packet in the middle of UCF-101's
    v_Kayaking_g12_c03 (372 packets, 371 frames). Decoding a 320x240 clip this way takes about
    14 ms (13,000 frames/s on one core), once per file (`video_info` caches it on disk). Motion
    JPEG (`ssv data cache`) is not decoded: each of its packets is a picture of its own.
    """
    try:
        with _open(path) as container:
            if not container.streams.video:
                raise VideoError(f"{path} has no video stream: is it really a video?")
            stream = container.streams.video[0]
            announced, codec = stream.frames, stream.codec_context.name
            fps = float(stream.average_rate or stream.guessed_rate or 0.0)
            height, width = stream.height, stream.width
            packets, keyframes, in_order, decoded = 0, [], True, []
            for packet in container.demux(stream):  # the last, empty packet flushes the decoder
                if packet.size > 0:
                    in_order = in_order and packet.pts == packet.dts == packets
                    if packet.is_keyframe:
                        keyframes.append(packets)
                    packets += 1
                if codec != "mjpeg":
                    decoded.extend(frame.pts for frame in packet.decode())
    except VideoError:
        raise
    except Exception as err:  # PyAV raises its own error types
        raise _broken(Path(path), err) from err
    if not packets:
        raise VideoError(
            f"video file {path} holds no frame: delete it and extract or download it again"
        )
    if announced > packets:
        raise VideoError(
            f"video file {path} is truncated: its header announces {announced} frames but it holds "
            f"{packets}; delete it and extract or download it again"
        )
    if codec == "mjpeg":
        decoded = list(range(packets))
    if not decoded:
        raise VideoError(f"video file {path} decodes to no frame: delete it and get it again")
    # Seeking by timestamp is safe only where the timestamps of the frames that decode are
    # 0, 1, 2, ...: no B-frames, and no packet that decodes to nothing.
    seekable = in_order and decoded == list(range(len(decoded)))
    return VideoInfo(
        len(decoded), fps, height, width, tuple(keyframes) or (0,), seekable, packets, codec
    )


_INFO_VERSION = 2  # bump when what `_probe` measures changes: older entries are then ignored


def _info_db() -> sqlite3.Connection:
    """This process's connection to the on-disk cache of `_probe` results."""
    from ..config import cache_dir

    where = (os.getpid(), cache_dir() / "video-info.sqlite")
    if getattr(_local, "db_where", None) != where:
        db = sqlite3.connect(where[1], timeout=30)
        db.execute("CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, info TEXT)")
        _local.db, _local.db_where = db, where
    return _local.db


def _decord_reader(path: str):
    """A single-threaded decord VideoReader (threads belong to DataLoader workers)."""
    import decord

    return decord.VideoReader(path, num_threads=1)


def read_frames(path: str | Path, indices: Sequence[int], backend: str = "auto") -> np.ndarray:
    """Decode the frames at `indices` (any order, repeats allowed) as uint8 RGB (n, H, W, 3).

    The way is chosen per video, by what was measured fastest (`ssv bench decode`): motion JPEG
    (the cache `ssv data cache` writes) decodes only the frames asked for; frames of at most
    `SMALL_FRAME` pixels are read in order by OpenCV, whose per-frame cost is below PyAV's (on
    the built-in videos, PyAV alone made ssvlib 10% slower than decoding whole videos); larger
    frames go through PyAV, which seeks and converts only the frames asked for. All give the
    same pixels. backend="pyav" or "decord" forces that reader (motion JPEG aside).
    """
    path = _checked(path)
    chosen = backend
    backend = resolve_backend(backend)
    indices = [int(i) for i in indices]
    if not indices:
        raise ValueError("read_frames needs at least one frame index")
    info = video_info(path)
    bad = [i for i in indices if not 0 <= i < info.num_frames]
    if bad:
        raise VideoError(
            f"{path} has {info.num_frames} frames; frame {bad[0]} was asked for. The video is too "
            f"short for this sample: use shorter clips, a smaller step, or drop the video"
        )
    wanted = sorted(set(indices))
    try:
        if info.codec == "mjpeg" and info.seekable:  # every frame a JPEG (`ssv data cache`)
            frames = _jpeg_frames(path, wanted, info)
        elif backend == "decord" and info.packets == info.num_frames:
            frames = _decord_frames(path, wanted, info)
        elif chosen == "auto" and info.height * info.width <= SMALL_FRAME:
            frames = _opencv_frames(path, wanted, info)
        else:
            frames = _pyav_frames(path, wanted, info)
    except VideoError:
        raise
    except Exception as err:
        raise _broken(path, err) from err
    if indices == wanted:  # asked in time order, once each: no copy
        return frames
    position = {index: k for k, index in enumerate(wanted)}
    return frames[[position[i] for i in indices]]


def _decord_frames(path: Path, wanted: list[int], info: VideoInfo) -> np.ndarray:
    """Decode the wanted (sorted, unique) frames with decord, the last few with PyAV.

    decord sometimes returns a wrong picture for the last frames of a file with B-frames (UCF-101's
    ApplyEyeMakeup clips, for one): about 1 read in 30 that seeks to the last frame, at random. The
    last `_TAIL` frames are therefore decoded with PyAV, which gets them right. Files with
    packets that decode to nothing (HMDB-51's placeholders) never come here: decord counts such a
    packet as a frame and its seeks return a neighbour of the frame asked for, or one far from it.
    """
    body = [i for i in wanted if i < info.num_frames - _TAIL]
    tail = [i for i in wanted if i >= info.num_frames - _TAIL]
    parts = []
    if body:
        parts.append(_decord_reader(str(path)).get_batch(body).asnumpy())
    if tail:
        parts.append(_pyav_frames(path, tail, info))
    return np.concatenate(parts)


def _jpeg_flag() -> tuple[int, bool]:
    """OpenCV's imread flag for RGB output where it has one (4.10 on), else BGR's."""
    import cv2

    if hasattr(cv2, "IMREAD_COLOR_RGB"):
        return cv2.IMREAD_COLOR_RGB, True
    return cv2.IMREAD_COLOR, False


_JPEG_FLAG, _JPEG_RGB = _jpeg_flag()


_inherited: list = []  # decoder state a forked process inherited; kept, never freed there


def _set_aside_after_fork() -> None:
    """In a forked child, set aside the parent's PyAV reformatter and cache connection.

    The reformatter holds FFmpeg's scaler, whose pool of slice threads does not survive a fork:
    the child gets the pool without its threads, and the first frame it converts waits for them
    forever (so does freeing it, which is why it is kept, not dropped). The child makes its own.
    """
    for name in ("reformatter", "db", "db_where"):
        if name in _local.__dict__:
            _inherited.append(_local.__dict__.pop(name))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_set_aside_after_fork)


def _reformatter():
    """This thread's PyAV reformatter: reusing it keeps its conversion context (3x faster)."""
    if not hasattr(_local, "reformatter"):
        from av.video.reformatter import VideoReformatter

        _local.reformatter = VideoReformatter()
    return _local.reformatter


def _pyav_frames(path: Path, wanted: list[int], info: VideoInfo) -> np.ndarray:
    """Decode forward from the keyframe before the first wanted frame, converting only wanted ones.

    Where the timestamps are frame indices (`info.seekable`), the reader seeks; otherwise it decodes
    from the start and counts frames, since timestamps of B-frame files cannot be trusted.
    """
    first, last, need = wanted[0], wanted[-1], set(wanted)
    start = max(k for k in info.keyframes if k <= first) if info.seekable else 0
    frames, index = [], -1
    with _open(path) as container:
        stream = container.streams.video[0]
        if start > 0:
            container.seek(start, stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            index = frame.pts if info.seekable else index + 1
            if index in need:
                rgb = _reformatter().reformat(frame, format="rgb24", interpolation="AREA")
                frames.append(rgb.to_ndarray())
            if index >= last:
                break
    if len(frames) < len(wanted):
        raise VideoError(
            f"{path} decoded only up to frame {index} but frame {last} was asked for: the file is "
            f"truncated or corrupt; delete it and extract or download it again"
        )
    return np.stack(frames)


def _jpeg_frames(path: Path, wanted: list[int], info: VideoInfo) -> np.ndarray:
    """Decode the wanted frames of a motion-JPEG file, each packet a JPEG image of its own: seek
    to the first, read packets up to the last, decode only the wanted ones with OpenCV's JPEG
    decoder (no other frame is touched; 2-3x PyAV's per-frame cost). Files whose JPEGs OpenCV
    cannot read (no Huffman tables, for one) are read with PyAV."""
    import cv2

    out = np.empty((len(wanted), info.height, info.width, 3), np.uint8)
    need = {index: k for k, index in enumerate(wanted)}
    found = 0
    with _open(path) as container:
        stream = container.streams.video[0]
        if wanted[0] > 0:
            container.seek(wanted[0], stream=stream, backward=True, any_frame=False)
        for packet in container.demux(stream):
            if packet.pts in need:
                image = cv2.imdecode(np.frombuffer(packet, np.uint8), _JPEG_FLAG)
                if image is None or image.shape != out.shape[1:]:
                    return _pyav_frames(path, wanted, info)
                out[need[packet.pts]] = image if _JPEG_RGB else image[:, :, ::-1]
                found += 1
            if packet.pts is not None and packet.pts >= wanted[-1]:
                break
    if found < len(wanted):
        raise VideoError(
            f"{path} holds {found} of the {len(wanted)} frames asked for: the file is truncated "
            f"or corrupt; delete it and make it again"
        )
    return out


def _opencv_frames(path: Path, wanted: list[int], info: VideoInfo) -> np.ndarray:
    """Decode from the start with OpenCV up to the last wanted frame, converting only those."""
    import cv2

    out = np.empty((len(wanted), info.height, info.width, 3), np.uint8)
    need = {index: k for k, index in enumerate(wanted)}
    capture = cv2.VideoCapture(str(path))
    try:
        index = -1
        for index in range(wanted[-1] + 1):
            if not capture.grab():
                index -= 1
                break
            if index in need:
                ok, frame = capture.retrieve()
                if not ok or frame.shape != out.shape[1:]:
                    return _pyav_frames(path, wanted, info)
                cv2.cvtColor(frame, cv2.COLOR_BGR2RGB, dst=out[need[index]])
    finally:
        capture.release()
    if index < wanted[-1]:
        raise VideoError(
            f"{path} decoded only up to frame {index} but frame {wanted[-1]} was asked for: the "
            f"file is truncated or corrupt; delete it and extract or download it again"
        )
    return out


def read_all_frames(path: str | Path, backend: str = "auto") -> np.ndarray:
    """Decode every frame of a video as uint8 RGB (T, H, W, 3)."""
    return read_frames(path, range(video_info(path).num_frames), backend)


def probe_all(paths: Sequence[str | Path], progress: bool = True) -> dict[str, VideoInfo | str]:
    """`video_info` of every path, on a thread per core (PyAV decodes outside Python's lock):
    {path: VideoInfo, or the reason it cannot be read}. A bar shows when it takes long (the
    first time: about 14 ms a UCF-101 clip per core; afterwards the disk cache answers)."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    def probe(path: str | Path) -> VideoInfo | str:
        try:
            return video_info(path)
        except VideoError as err:
            return str(err)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        found = pool.map(probe, paths)
        bar = tqdm(found, total=len(paths), desc="reading videos", unit="video", leave=False,
                   delay=2, disable=not progress)  # fmt: skip
        return {str(path): info for path, info in zip(paths, bar, strict=True)}
