"""Offline tests of ssvlib.data.download against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import threading
import zipfile
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import rarfile

from ssvlib import cli
from ssvlib.data import download as dl
from ssvlib.data import hmdb51

# ---------------------------------------------------------------------------------------------
# Fixture archives
# ---------------------------------------------------------------------------------------------

SPLIT_FILES = {
    "ucfTrainTestlist/classInd.txt": b"1 ApplyEyeMakeup\r\n2 Archery\r\n",
    "ucfTrainTestlist/trainlist01.txt": (
        b"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\nArchery/v_Archery_g08_c01.avi 2\r\n"
    ),
    "ucfTrainTestlist/testlist01.txt": (
        b"ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\nArchery/v_Archery_g01_c01.avi\r\n"
    ),
}
VIDEO_FILES = {
    "UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi": bytes(range(256)) * 40,
    "UCF-101/Archery/v_Archery_g08_c01.avi": b"RIFF fake avi " * 500,
}


def make_zip(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A deflated zip of `files`; `links` adds Unix symlink members (name -> target)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16) | 0x20
            zf.writestr(info, target)
    return buf.getvalue()


def _rar4_block(head_type: int, flags: int, body: bytes, data: bytes = b"") -> bytes:
    """One RAR 4 block: HEAD_CRC (low 16 bits of CRC32 of the rest of the header), header, data."""
    header = struct.pack("<BHH", head_type, flags, 7 + len(body)) + body
    return struct.pack("<H", zlib.crc32(header) & 0xFFFF) + header + data


def make_rar4(
    files: dict[str, bytes],
    *,
    dirs: tuple[str, ...] = (),
    method: int = 0x30,
    links: dict[str, str] | None = None,
) -> bytes:
    """A RAR 4 archive built by hand from the RAR technote: 'store' method, Unix host, real CRCs.

    `method` other than 0x30 only labels the members as compressed (their data stays raw), which
    is enough to make rarfile ask for an external tool.
    """
    dos_time = (2020 - 1980) << 25 | 1 << 21 | 1 << 16  # 2020-01-01 00:00:00
    out = [b"Rar!\x1a\x07\x00", _rar4_block(0x73, 0, bytes(6))]  # marker, main header
    entries = [(d, None, 0o040755) for d in dirs]
    entries += [(n, d, 0o100644) for n, d in files.items()]
    entries += [(n, t.encode(), 0o120777) for n, t in (links or {}).items()]
    for name, data, mode in entries:
        flags = 0x8000 | (0x00E0 if data is None else 0)  # LONG_BLOCK, directory bits
        payload = data or b""
        raw = name.encode()
        body = struct.pack(
            "<IIBIIBBHI",
            len(payload),  # PACK_SIZE
            len(payload),  # UNP_SIZE
            3,  # HOST_OS: Unix
            zlib.crc32(payload),  # FILE_CRC
            dos_time,  # FTIME
            29,  # UNP_VER
            method,  # METHOD
            len(raw),  # NAME_SIZE
            mode,  # ATTR
        )
        out.append(_rar4_block(0x74, flags, body + raw, payload))
    out.append(_rar4_block(0x7B, 0x4000, b""))  # end of archive
    return b"".join(out)


# ---------------------------------------------------------------------------------------------
# Local HTTP server
# ---------------------------------------------------------------------------------------------


@dataclass
class Behaviour:
    """What the test server serves and how it misbehaves; it records every Range header."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut_first_after: int | None = None  # close the first GET after this many body bytes
    ignore_range: bool = False  # answer 200 with the whole file even when asked for a range
    short_by: int = 0  # always send this many bytes fewer than Content-Length announces
    ranges: list[str | None] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    """Serves Behaviour.files over HTTP/1.0 with Range support (one connection per request)."""

    timeout = 5  # bound every request's socket

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        beh: Behaviour = self.server.behaviour  # type: ignore[attr-defined]
        data = beh.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        beh.ranges.append(rng)
        start = 0
        if rng and not beh.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if beh.cut_first_after is not None and len(beh.ranges) == 1:
            body = body[: beh.cut_first_after]
        self.wfile.write(body[: len(body) - beh.short_by])

    def log_message(self, *args) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def server(monkeypatch):
    """A ThreadingHTTPServer on 127.0.0.1 (free port); yields (base_url, Behaviour)."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.behaviour = Behaviour()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.behaviour
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


PAYLOAD = bytes((i * 7 + 3) % 251 for i in range(50_000))


@pytest.fixture(autouse=True)
def published_md5(monkeypatch) -> dict[str, dl.Published]:
    """Each test gets its own copy of the published md5 table, and no SSV_TRUST_DOWNLOAD."""
    table = dict(dl.PUBLISHED_MD5)
    monkeypatch.setattr(dl, "PUBLISHED_MD5", table)
    monkeypatch.delenv(dl.TRUST_ENV, raising=False)
    return table


def publish(name: str, data: bytes) -> str:
    """Make `data` the published archive `name` for this test; return its md5."""
    md5 = hashlib.md5(data).hexdigest()
    dl.PUBLISHED_MD5[name] = dl.Published(md5, "this test")
    return md5


# ---------------------------------------------------------------------------------------------
# download_file
# ---------------------------------------------------------------------------------------------


def test_download_file_complete(server, tmp_path):
    base, beh = server
    beh.files["/a.bin"] = PAYLOAD
    out = dl.download_file(f"{base}/a.bin", tmp_path / "a.bin", progress=False, timeout=5)
    assert out.read_bytes() == PAYLOAD
    assert not (tmp_path / "a.bin.part").exists()
    assert beh.ranges == [None]


def test_resume_after_cut_in_a_later_call(server, tmp_path):
    base, beh = server
    beh.files["/a.bin"] = PAYLOAD
    beh.cut_first_after = 12_345
    dest = tmp_path / "a.bin"
    with pytest.raises(dl.DownloadError, match=r"a\.bin\.part.*Rerun"):
        dl.download_file(f"{base}/a.bin", dest, progress=False, timeout=5, retries=0)
    assert (tmp_path / "a.bin.part").stat().st_size == 12_345
    assert not dest.exists()
    dl.download_file(f"{base}/a.bin", dest, progress=False, timeout=5, retries=0)
    assert dest.read_bytes() == PAYLOAD
    assert beh.ranges == [None, "bytes=12345-"]


def test_resume_after_cut_within_one_call(server, tmp_path):
    base, beh = server
    beh.files["/a.bin"] = PAYLOAD
    beh.cut_first_after = 777
    dest = dl.download_file(f"{base}/a.bin", tmp_path / "a.bin", progress=False, timeout=5)
    assert dest.read_bytes() == PAYLOAD
    assert beh.ranges == [None, "bytes=777-"]


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    base, beh = server
    beh.files["/a.bin"] = PAYLOAD
    beh.cut_first_after = 20_000
    beh.ignore_range = True
    dest = dl.download_file(f"{base}/a.bin", tmp_path / "a.bin", progress=False, timeout=5)
    assert dest.read_bytes() == PAYLOAD  # not the first 20,000 bytes twice
    assert beh.ranges == [None, "bytes=20000-"]


def test_short_body_raises_and_keeps_part(server, tmp_path):
    base, beh = server
    beh.files["/a.bin"] = PAYLOAD
    beh.short_by = 10
    dest = tmp_path / "a.bin"
    with pytest.raises(dl.DownloadError) as info:
        dl.download_file(f"{base}/a.bin", dest, progress=False, timeout=5, retries=1)
    message = str(info.value)
    assert f"{base}/a.bin" in message and f"of the {len(PAYLOAD)} bytes" in message
    assert not dest.exists()
    assert (tmp_path / "a.bin.part").read_bytes() == PAYLOAD[:-10]


def test_part_already_complete_is_finished_without_new_bytes(server, tmp_path):
    base, beh = server
    beh.files["/a.bin"] = PAYLOAD
    (tmp_path / "a.bin.part").write_bytes(PAYLOAD)
    dest = dl.download_file(f"{base}/a.bin", tmp_path / "a.bin", progress=False, timeout=5)
    assert dest.read_bytes() == PAYLOAD
    assert beh.ranges == [f"bytes={len(PAYLOAD)}-"]


def test_http_error_names_the_url(server, tmp_path):
    base, _ = server
    with pytest.raises(dl.DownloadError, match=r"/nothing\.bin answered HTTP 404"):
        dl.download_file(f"{base}/nothing.bin", tmp_path / "x", progress=False, timeout=5)


# ---------------------------------------------------------------------------------------------
# download_ucf101 and the manifest
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("video_format", ["rar", "zip"])
def test_download_ucf101_gives_the_layout(server, tmp_path, video_format):
    base, beh = server
    videos = make_rar4(VIDEO_FILES) if video_format == "rar" else make_zip(VIDEO_FILES)
    beh.files[f"/UCF101.{video_format}"] = videos
    publish(f"UCF101.{video_format}", videos)
    beh.files["/splits.zip"] = make_zip(SPLIT_FILES)
    root = tmp_path / "data"
    kwargs = dict(
        url_videos=f"{base}/UCF101.{video_format}", url_splits=f"{base}/splits.zip", progress=False
    )
    assert dl.download_ucf101(root, **kwargs) == root
    for rel, data in {**SPLIT_FILES, **VIDEO_FILES}.items():
        assert (root / rel).read_bytes() == data
    manifest = json.loads((root / dl.MANIFEST_NAME).read_text())
    assert manifest[f"UCF101.{video_format}"]["size"] == len(videos)
    assert manifest["splits.zip"]["sha256"] == dl.sha256_file(root / "splits.zip")
    assert manifest[f"UCF101.{video_format}"]["md5_check"] == "matched"
    assert manifest["splits.zip"]["md5_check"] == "unchecked"  # no md5 published for this name
    assert dl.verify_manifest(root) == []
    n_requests = len(beh.ranges)
    dl.download_ucf101(root, **kwargs)  # rerun: nothing to fetch, nothing to extract
    assert len(beh.ranges) == n_requests


def test_download_ucf101_refuses_a_corrupted_archive(server, tmp_path):
    base, beh = server
    beh.files["/splits.zip"] = make_zip(SPLIT_FILES)
    root = tmp_path / "data"
    dl.download_ucf101(root, videos=False, url_splits=f"{base}/splits.zip", progress=False)
    archive = root / "splits.zip"
    archive.write_bytes(archive.read_bytes()[:-5])  # truncated on disk
    for path in sorted((root / "ucfTrainTestlist").iterdir()):
        path.unlink()
    (root / "ucfTrainTestlist").rmdir()  # extracted folder gone: a rerun must extract again
    with pytest.raises(dl.DownloadError, match=r"splits\.zip.*truncated.*delete it and rerun"):
        dl.download_ucf101(root, videos=False, url_splits=f"{base}/splits.zip", progress=False)
    archive.unlink()
    dl.download_ucf101(root, videos=False, url_splits=f"{base}/splits.zip", progress=False)
    assert (root / "ucfTrainTestlist" / "classInd.txt").read_bytes() == SPLIT_FILES[
        "ucfTrainTestlist/classInd.txt"
    ]


def test_verify_manifest_finds_size_and_hash_changes(tmp_path):
    a, b = tmp_path / "a.rar", tmp_path / "b.zip"
    a.write_bytes(PAYLOAD)
    b.write_bytes(PAYLOAD)
    dl.add_to_manifest(tmp_path, a)
    dl.add_to_manifest(tmp_path, b)
    assert dl.verify_manifest(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [dl.MANIFEST_NAME, "a.rar", "b.zip"]
    a.write_bytes(PAYLOAD[:-1])
    b.write_bytes(b"\xff" + PAYLOAD[1:])  # same size, one byte flipped
    problems = dl.verify_manifest(tmp_path)
    assert len(problems) == 2
    assert "a.rar" in problems[0] and "bytes" in problems[0] and "delete it" in problems[0]
    assert "b.zip" in problems[1] and "sha256" in problems[1] and "delete it" in problems[1]
    assert dl.verify_manifest(tmp_path, ["b.zip"]) == problems[1:]


# ---------------------------------------------------------------------------------------------
# The published md5
# ---------------------------------------------------------------------------------------------

CHANGED_SPLITS = {**SPLIT_FILES, "ucfTrainTestlist/classInd.txt": b"1 Changed\r\n"}


def test_official_archives_have_a_published_md5():
    for url in (dl.URL_VIDEOS, dl.URL_SPLITS, dl.URL_HMDB51_VIDEOS, dl.URL_HMDB51_SPLITS):
        assert re.fullmatch(r"[0-9a-f]{32}", dl.PUBLISHED_MD5[dl.archive_name(url)].md5)


def test_download_not_matching_the_published_md5_is_refused_before_extraction(server, tmp_path):
    base, beh = server
    good, bad = make_zip(SPLIT_FILES), make_zip(CHANGED_SPLITS)  # both extract fine
    expected = publish("splits.zip", good)
    beh.files["/splits.zip"] = bad
    root = tmp_path / "data"
    kwargs = dict(videos=False, url_splits=f"{base}/splits.zip", progress=False)
    with pytest.raises(dl.DownloadError) as info:
        dl.download_ucf101(root, **kwargs)
    archive = root / "splits.zip"
    message = str(info.value)
    assert message.startswith(f"{archive}: md5 {hashlib.md5(bad).hexdigest()}, ")
    assert f"published splits.zip has md5 {expected}" in message
    assert f"Delete {archive} and rerun the download" in message
    assert f"{dl.TRUST_ENV}=1" in message and "trust_download=True" in message
    assert not (root / "ucfTrainTestlist").exists()
    assert dl.read_manifest(root) == {}
    # following the advice, with the published archive back on the server, completes the set-up
    beh.files["/splits.zip"] = good
    archive.unlink()
    dl.download_ucf101(root, **kwargs)
    assert (root / "ucfTrainTestlist" / "classInd.txt").read_bytes() == SPLIT_FILES[
        "ucfTrainTestlist/classInd.txt"
    ]
    assert dl.read_manifest(root)["splits.zip"] == {
        "size": len(good),
        "sha256": hashlib.sha256(good).hexdigest(),
        "md5": expected,
        "published_md5": expected,
        "md5_check": "matched",
    }


def test_download_hmdb51_refuses_videos_not_matching_the_published_md5(server, tmp_path):
    kwargs = serve_hmdb51(server, THREE_ACTIONS)
    dl.PUBLISHED_MD5["hmdb51_org.rar"] = dl.Published("0" * 32, "this test")
    root = tmp_path / "hmdb"
    with pytest.raises(dl.DownloadError, match=r"hmdb51_org\.rar has md5 0{32}"):
        dl.download_hmdb51(root, **kwargs)
    assert (root / hmdb51.SPLIT_DIR).is_dir()  # the split files matched and were extracted
    assert not (root / hmdb51.VIDEO_DIR).exists()
    assert not (root / (dl.UNPACK_PREFIX + "hmdb51_org.rar")).exists()
    assert sorted(dl.read_manifest(root)) == ["test_train_splits.rar"]


@pytest.mark.parametrize("recorded_before", [False, True], ids=["by-hand", "recorded-before"])
def test_archive_already_in_root_is_checked_against_the_published_md5(
    server, tmp_path, recorded_before
):
    base, beh = server
    root = tmp_path / "data"
    root.mkdir()
    archive = root / "splits.zip"
    archive.write_bytes(make_zip(CHANGED_SPLITS))
    if recorded_before:  # an entry with size and sha256 only, as an earlier run wrote it
        dl.add_to_manifest(root, archive)
    publish("splits.zip", make_zip(SPLIT_FILES))
    kwargs = dict(videos=False, url_splits=f"{base}/splits.zip", progress=False)
    with pytest.raises(dl.DownloadError, match=rf"{re.escape(str(archive))}: md5 .*Delete"):
        dl.download_ucf101(root, **kwargs)
    assert not (root / "ucfTrainTestlist").exists()
    publish("splits.zip", archive.read_bytes())
    dl.download_ucf101(root, **kwargs)
    assert (root / "ucfTrainTestlist" / "classInd.txt").read_bytes() == b"1 Changed\r\n"
    assert dl.read_manifest(root)["splits.zip"]["md5_check"] == "matched"
    assert beh.ranges == []  # checked and extracted without a download


def test_trust_download_accepts_a_changed_archive_and_records_it_unchecked(server, tmp_path):
    base, beh = server
    beh.files["/splits.zip"] = make_zip(CHANGED_SPLITS)
    expected = publish("splits.zip", make_zip(SPLIT_FILES))
    root = tmp_path / "data"
    dl.download_ucf101(
        root, videos=False, url_splits=f"{base}/splits.zip", progress=False, trust_download=True
    )
    assert (root / "ucfTrainTestlist" / "classInd.txt").read_bytes() == b"1 Changed\r\n"
    entry = dl.read_manifest(root)["splits.zip"]
    assert entry["md5"] == hashlib.md5(beh.files["/splits.zip"]).hexdigest()
    assert (entry["published_md5"], entry["md5_check"]) == (expected, "unchecked")


def test_cli_checks_an_official_archive_placed_by_hand_and_trusts_it_on_request(tmp_path, capsys):
    root = tmp_path / "data"
    root.mkdir()
    archive = root / dl.archive_name(dl.URL_SPLITS)  # the real published md5 applies
    archive.write_bytes(make_zip(SPLIT_FILES))
    published = dl.PUBLISHED_MD5[archive.name].md5
    argv = ["data", "download", str(root), "--splits-only"]
    assert cli.main(argv) == 1  # one line on stderr, not a traceback
    err = capsys.readouterr().err
    assert err.startswith("ssv data download: ") and f"has md5 {published}" in err
    assert "--trust-download" in err
    assert not (root / "ucfTrainTestlist").exists()
    assert cli.main([*argv, "--trust-download"]) == 0
    assert (root / "ucfTrainTestlist" / "classInd.txt").is_file()
    entry = dl.read_manifest(root)[archive.name]
    assert (entry["published_md5"], entry["md5_check"]) == (published, "unchecked")


# ---------------------------------------------------------------------------------------------
# extract_archive
# ---------------------------------------------------------------------------------------------


def test_extract_rar_reads_stored_members_and_directories(tmp_path):
    archive = tmp_path / "v.rar"
    archive.write_bytes(make_rar4(VIDEO_FILES, dirs=("UCF-101", "UCF-101/Empty")))
    out = tmp_path / "out"
    written = dl.extract_archive(archive, out)
    assert (out / "UCF-101" / "Empty").is_dir()
    assert {p.relative_to(out).as_posix() for p in written if p.is_file()} == set(VIDEO_FILES)
    for rel, data in VIDEO_FILES.items():
        assert (out / rel).read_bytes() == data


def test_extract_rar_with_bad_crc_is_reported_as_corrupted(tmp_path):
    raw = bytearray(make_rar4({"UCF-101/a.avi": b"x" * 1000}))
    raw[-100] ^= 0xFF  # flip one data byte; headers untouched
    archive = tmp_path / "v.rar"
    archive.write_bytes(bytes(raw))
    with pytest.raises(dl.ArchiveError, match=r"UCF-101/a\.avi.*corrupted.*delete"):
        dl.extract_archive(archive, tmp_path / "out")
    assert [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []  # no part of a.avi


def test_extract_is_skipped_once_done(tmp_path):
    archive = tmp_path / "s.zip"
    archive.write_bytes(make_zip(SPLIT_FILES))
    first = dl.extract_archive(archive, tmp_path)
    (tmp_path / "ucfTrainTestlist" / "classInd.txt").write_bytes(b"edited")
    assert dl.extract_archive(archive, tmp_path) == first
    assert (tmp_path / "ucfTrainTestlist" / "classInd.txt").read_bytes() == b"edited"


UNSAFE = {
    "dotdot": ({"../evil.txt": b"x"}, None, "../evil.txt"),
    "nested-dotdot": ({"ok/../../evil.txt": b"x"}, None, "ok/../../evil.txt"),
    "absolute": ({"/tmp/ssv-evil.txt": b"x"}, None, "/tmp/ssv-evil.txt"),
    "drive": ({"C:/evil.txt": b"x"}, None, "C:/evil.txt"),
    "symlink": ({"ok.txt": b"x"}, {"link": "/etc/passwd"}, "link"),
}


@pytest.mark.parametrize("fmt", ["zip", "rar"])
@pytest.mark.parametrize("case", list(UNSAFE))
def test_unsafe_members_are_refused(tmp_path, fmt, case):
    files, links, bad_name = UNSAFE[case]
    data = make_zip(files, links) if fmt == "zip" else make_rar4(files, links=links)
    archive = tmp_path / f"bad.{fmt}"
    archive.write_bytes(data)
    dest = tmp_path / "dest"
    with pytest.raises(dl.ArchiveError) as info:
        dl.extract_archive(archive, dest)
    assert repr(bad_name) in str(info.value)
    assert not (tmp_path / "evil.txt").exists()
    assert not (dest / "ok.txt").exists()  # nothing at all is written from a refused archive


def test_symlinked_folder_inside_dest_cannot_be_escaped_through(tmp_path):
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    (dest / "UCF-101").symlink_to(outside, target_is_directory=True)
    archive = tmp_path / "v.zip"
    archive.write_bytes(make_zip({"UCF-101/a.avi": b"x"}))
    with pytest.raises(dl.ArchiveError, match=r"'UCF-101/a\.avi'"):
        dl.extract_archive(archive, dest)
    assert not (outside / "a.avi").exists()


def test_missing_rar_tool_error_says_what_to_install(tmp_path, monkeypatch):
    for name in ("UNRAR_TOOL", "UNAR_TOOL", "BSDTAR_TOOL", "SEVENZIP_TOOL", "SEVENZIP2_TOOL"):
        monkeypatch.setattr(rarfile, name, f"/nonexistent/ssv-{name.lower()}")
    monkeypatch.setattr(rarfile, "CURRENT_SETUP", None)
    archive = tmp_path / "UCF101.rar"
    archive.write_bytes(make_rar4({"UCF-101/a.avi": b"x" * 100}, method=0x33))  # "normal" method
    with pytest.raises(dl.ArchiveError) as info:
        dl.extract_archive(archive, tmp_path / "out")
    message = str(info.value)
    for needle in (
        "unrar",
        "unar",
        "7z",
        "bsdtar",
        "apt-get install unar",
        "brew install",
        "conda",
    ):
        assert needle in message
    assert not (tmp_path / "out" / "UCF-101").exists()


def test_archive_name_from_url():
    # the names the official archives have, so a copy downloaded by hand into root is found
    assert dl.archive_name(dl.URL_VIDEOS) == "UCF101.rar"
    assert dl.archive_name(dl.URL_SPLITS) == "UCF101TrainTestSplits-RecognitionTask.zip"
    assert dl.archive_name(dl.URL_HMDB51_VIDEOS) == "hmdb51_org.rar"
    assert dl.archive_name(dl.URL_HMDB51_SPLITS) == "test_train_splits.rar"
    assert dl.archive_name("https://mirror.example/a/UCF%20101.rar?token=x#y") == "UCF 101.rar"
    with pytest.raises(ValueError, match="file name"):
        dl.archive_name("https://example.org/")


# ---------------------------------------------------------------------------------------------
# download_hmdb51
# ---------------------------------------------------------------------------------------------

HMDB51_ACTIONS = (
    "brush_hair cartwheel catch chew clap climb climb_stairs dive draw_sword dribble drink eat "
    "fall_floor fencing flic_flac golf handstand hit hug jump kick kick_ball kiss laugh pick pour "
    "pullup punch push pushup ride_bike ride_horse run shake_hands shoot_ball shoot_bow shoot_gun "
    "sit situp smile smoke somersault stand swing_baseball sword sword_exercise talk throw turn "
    "walk wave"
).split()
THREE_ACTIONS = ["brush_hair", "catch", "chew"]
HMDB51_MARKERS = [dl.MARKER_PREFIX + "hmdb51_org.rar", dl.MARKER_PREFIX + "test_train_splits.rar"]


def hmdb51_clips(action: str) -> dict[str, bytes]:
    """Two clips of `action` as its RAR holds them, named with the characters HMDB-51 uses."""
    names = (
        f"Glory_(1989)_+_the_Flag!_{action}_f_cm_np1_fr_med_0.avi",
        f"Kill_Bill_&_Co;_#2_{action}_h_nm_np2_le_goo_1.avi",
    )
    return {f"{action}/{name}": f"{action} clip {i} ".encode() * 60 for i, name in enumerate(names)}


def hmdb51_split_files(actions: list[str]) -> dict[str, bytes]:
    """Split files 1-3 per action, as published: clip 0 trains (1), clip 1 tests (2)."""
    files = {}
    for action in actions:
        train, test = (rel.split("/", 1)[1] for rel in hmdb51_clips(action))
        for split in (1, 2, 3):
            name = f"testTrainMulti_7030_splits/{action}_test_split{split}.txt"
            files[name] = f"{train} 1 \n{test} 2 \n".encode()
    return files


def serve_hmdb51(server, actions: list[str], inner: dict[str, bytes] | None = None) -> dict:
    """Serve hmdb51_org.rar (one RAR per action; `inner` replaces some) and the splits RAR.

    Returns the url keyword arguments for download_hmdb51.
    """
    base, beh = server
    archives = {f"{a}.rar": make_rar4(hmdb51_clips(a)) for a in actions}
    archives.update(inner or {})
    beh.files["/hmdb51_org.rar"] = make_rar4(archives)
    beh.files["/test_train_splits.rar"] = make_rar4(hmdb51_split_files(actions))
    for name in ("hmdb51_org.rar", "test_train_splits.rar"):
        publish(name, beh.files[f"/{name}"])
    return {
        "url_videos": f"{base}/hmdb51_org.rar",
        "url_splits": f"{base}/test_train_splits.rar",
        "progress": False,
    }


def spy_copies(monkeypatch, interrupt_at: str | None = None) -> list[str]:
    """Record the archive members written; raise KeyboardInterrupt once at member `interrupt_at`."""
    copied, interrupted, real = [], [], dl._copy_member

    def copy(member, path):
        copied.append(member.name)
        if member.name == interrupt_at and not interrupted:
            interrupted.append(member.name)
            raise KeyboardInterrupt
        real(member, path)

    monkeypatch.setattr(dl, "_copy_member", copy)
    return copied


def files_under(root) -> set[str]:
    """Every file under `root`, as posix paths relative to it."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_download_hmdb51_gives_the_layout_load_split_reads(server, tmp_path):
    kwargs = serve_hmdb51(server, HMDB51_ACTIONS)
    root = tmp_path / "hmdb"
    assert dl.download_hmdb51(root, **kwargs) == root
    clips = {f"videos/{rel}": data for a in HMDB51_ACTIONS for rel, data in hmdb51_clips(a).items()}
    splits = hmdb51_split_files(HMDB51_ACTIONS)
    assert len(splits) == 153
    for rel, data in {**clips, **splits}.items():
        assert (root / rel).read_bytes() == data
    # nothing else: no temporary folder, no per-action markers left in videos/
    archives = ["hmdb51_org.rar", "test_train_splits.rar", dl.MANIFEST_NAME]
    assert files_under(root) == {*clips, *splits, *archives, *HMDB51_MARKERS}
    assert sorted(dl.read_manifest(root)) == ["hmdb51_org.rar", "test_train_splits.rar"]
    assert dl.verify_manifest(root) == []
    split = hmdb51.load_split(root, 1, check_files=True)
    assert split.missing == []
    assert split.classes == sorted(HMDB51_ACTIONS)
    assert len(split.train) == len(split.test) == 51
    record = split.test[split.classes.index("catch")]
    assert record.path.read_bytes() == clips[f"videos/{record.rel}"]
    assert "&_Co;_#2" in record.rel


def test_download_hmdb51_second_call_downloads_and_extracts_nothing(server, tmp_path, monkeypatch):
    kwargs = serve_hmdb51(server, THREE_ACTIONS)
    beh = server[1]
    root = tmp_path / "hmdb"
    dl.download_hmdb51(root, videos=False, **kwargs)
    assert beh.ranges == [None]  # the splits only
    assert not (root / "videos").exists() and not (root / "hmdb51_org.rar").exists()
    dl.download_hmdb51(root, **kwargs)
    assert len(beh.ranges) == 2
    clip = root / "videos" / next(iter(hmdb51_clips("chew")))
    clip.write_bytes(b"edited")
    copied = spy_copies(monkeypatch)
    dl.download_hmdb51(root, **kwargs)
    assert len(beh.ranges) == 2  # no new request
    assert copied == []
    assert clip.read_bytes() == b"edited"


def test_download_hmdb51_resumes_an_interrupted_extraction(server, tmp_path, monkeypatch):
    kwargs = serve_hmdb51(server, THREE_ACTIONS)
    beh = server[1]
    root = tmp_path / "hmdb"
    catch_clips = list(hmdb51_clips("catch"))
    copied = spy_copies(monkeypatch, interrupt_at=catch_clips[1])  # Ctrl-C inside catch.rar
    with pytest.raises(KeyboardInterrupt):
        dl.download_hmdb51(root, **kwargs)
    first = root / "videos" / next(iter(hmdb51_clips("brush_hair")))
    assert first.is_file()
    assert not (root / "videos" / "chew").exists()
    assert not (root / HMDB51_MARKERS[0]).exists()
    first.write_bytes(b"edited")
    copied.clear()
    dl.download_hmdb51(root, **kwargs)
    # neither hmdb51_org.rar nor brush_hair.rar is extracted again; catch.rar is, from the start
    assert sorted(copied) == sorted([*catch_clips, *hmdb51_clips("chew")])
    assert first.read_bytes() == b"edited"
    for action in ("catch", "chew"):
        for rel, data in hmdb51_clips(action).items():
            assert (root / "videos" / rel).read_bytes() == data
    assert len(beh.ranges) == 2  # each archive downloaded once
    assert not (root / (dl.UNPACK_PREFIX + "hmdb51_org.rar")).exists()
    assert (root / HMDB51_MARKERS[0]).exists()
    assert not [p for p in (root / "videos").iterdir() if p.name.startswith(".")]


def _bad_crc_rar(files: dict[str, bytes]) -> bytes:
    raw = bytearray(make_rar4(files))
    raw[-100] ^= 0xFF  # one data byte of the last member
    return bytes(raw)


@pytest.mark.parametrize(
    "bad",
    [lambda: b"not a rar archive at all " * 20, lambda: _bad_crc_rar(hmdb51_clips("catch"))],
    ids=["not-a-rar", "bad-crc"],
)
def test_download_hmdb51_names_a_corrupt_inner_archive(server, tmp_path, bad):
    kwargs = serve_hmdb51(server, THREE_ACTIONS, inner={"catch.rar": bad()})
    root = tmp_path / "hmdb"
    outer = root / "hmdb51_org.rar"
    with pytest.raises(dl.ArchiveError) as info:
        dl.download_hmdb51(root, **kwargs)
    message = str(info.value)
    assert message.startswith("catch.rar, one of the archives inside")
    assert f"Delete {outer} and rerun" in message
    assert not (root / (dl.UNPACK_PREFIX + "hmdb51_org.rar")).exists()
    assert not (root / HMDB51_MARKERS[0]).exists()
    # following the advice, with a good copy on the server, completes the dataset
    serve_hmdb51(server, THREE_ACTIONS)
    outer.unlink()
    dl.download_hmdb51(root, **kwargs)
    for action in THREE_ACTIONS:
        for rel, data in hmdb51_clips(action).items():
            assert (root / "videos" / rel).read_bytes() == data
