"""Download UCF-101 and HMDB-51, check the archives against their published md5, and extract them.

UCF-101's videos come as one RAR archive (about 6.5 GB), its split files as a small zip. HMDB-51's
videos come as one RAR archive (about 2 GB) holding one RAR per action, unpacked through a temporary
folder in root, and its split files as a small RAR. Downloads stream to ``<file>.part`` and resume
with an HTTP Range request after a cut, so an interrupted run picks up where it stopped.

Before an archive is recorded or extracted, whether just downloaded or already in root (downloaded
before, or placed by hand), its md5 is compared with the published one in `PUBLISHED_MD5`; a
mismatch stops with a DownloadError. Those sums are the ones other loaders pin; we could not
download the archives to confirm them. When a server publishes a different archive on purpose,
``trust_download=True`` (or ``SSV_TRUST_DOWNLOAD=1`` in the environment) accepts it. The archive's
size, sha256 and md5, the published md5 and whether it matched go into ``root/.ssv-manifest.json``;
a later run checks the archive against that entry too, which catches corruption after the download.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

import rarfile
from tqdm.auto import tqdm

from ssvlib.data import hmdb51
from ssvlib.files import atomic_write, atomic_write_text

URL_VIDEOS = "https://www.crcv.ucf.edu/data/UCF101/UCF101.rar"
URL_SPLITS = "https://www.crcv.ucf.edu/data/UCF101/UCF101TrainTestSplits-RecognitionTask.zip"
URL_HMDB51_VIDEOS = "http://serre-lab.clps.brown.edu/wp-content/uploads/2013/10/hmdb51_org.rar"
URL_HMDB51_SPLITS = (
    "http://serre-lab.clps.brown.edu/wp-content/uploads/2013/10/test_train_splits.rar"
)
MANIFEST_NAME = ".ssv-manifest.json"
TRUST_ENV = "SSV_TRUST_DOWNLOAD"  # set to 1: accept archives whose md5 differs from the published
MARKER_PREFIX = ".ssv-extracted-"
UNPACK_PREFIX = ".ssv-unpacking-"  # temporary folder for archives inside an archive
CHUNK = 1 << 20

RAR_TOOL_HELP = (
    "rarfile needs an external tool to read compressed RAR members, and none of unrar, unar, 7z, "
    "7zz or bsdtar was found on PATH. Install one, for example: `sudo apt-get install unar` "
    "(Debian/Ubuntu), `brew install carlocab/personal/unrar` (macOS), or "
    "`conda install -c conda-forge unrar`; then rerun."
)


class DownloadError(RuntimeError):
    """A download failed or a downloaded file does not match what the server or manifest said."""


class ArchiveError(RuntimeError):
    """An archive cannot be extracted safely (unsafe member, missing tool, unknown format)."""


@dataclass(frozen=True)
class Published:
    """The md5 published for an official archive, and which loader pins it."""

    md5: str
    source: str


_LIGHTNING = "a third-party PyTorch Lightning UCF101DataModule"

# The official archives' md5 sums, keyed by archive name, as other loaders pin them. Nobody here
# could download the archives to confirm these values; a mismatch error says how to override.
PUBLISHED_MD5: dict[str, Published] = {
    "UCF101.rar": Published("6463accf4bbc20fa6418ab7f159e6149", _LIGHTNING),
    "UCF101TrainTestSplits-RecognitionTask.zip": Published(
        "4426308e815a5108ba976f4a2bb47c5e", _LIGHTNING
    ),
    "hmdb51_org.rar": Published(
        "517d6f1f19f215c45cdd4d25356be1fb",
        "DeepMind BraVe's TensorFlow HMDB-51 generator (brave/download_hmdb.py)",
    ),
    "test_train_splits.rar": Published(
        "15e67781e70dcfbdce2d7dbb9b3344b5", "torchvision.datasets.HMDB51"
    ),
}


# ---------------------------------------------------------------------------------------------
# Downloading
# ---------------------------------------------------------------------------------------------


def download_file(
    url: str,
    dest: str | Path,
    *,
    progress: bool = True,
    timeout: float = 60.0,
    retries: int = 3,
) -> Path:
    """Stream `url` to `dest` through `dest.part`, resuming with HTTP Range after a cut.

    Returns `dest` at once when it already exists. The byte count is checked against the
    Content-Length / Content-Range the server announced; `dest.part` is renamed to `dest` only when
    complete. After `retries` failed resumes a DownloadError is raised and the `.part` is kept, so
    calling again continues from where it stopped.
    """
    dest = Path(dest)
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last_error: Exception | None = None
    for _ in range(retries + 1):
        try:
            _download_attempt(url, part, progress=progress, timeout=timeout)
        except _Incomplete as err:
            last_error = err
            continue
        part.replace(dest)
        return dest
    have = part.stat().st_size if part.exists() else 0
    raise DownloadError(
        f"download of {url} stopped early ({last_error}); the {have} bytes received are kept in "
        f"{part}. Rerun the same call to resume from there, or delete {part} to start over."
    )


class _Incomplete(Exception):
    """Internal: one attempt ended before the announced number of bytes arrived."""


@dataclass
class _Response:
    """What one GET told us: the stream, where its bytes start and the full size (None: unknown)."""

    stream: http.client.HTTPResponse
    start: int
    total: int | None


def _download_attempt(url: str, part: Path, *, progress: bool, timeout: float) -> None:
    """Fetch the rest of `url` into `part` once; raise _Incomplete when the body ends early."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        resp = _open(url, offset, timeout)
    except _RangeRefused as refused:
        if refused.total == offset:  # the .part already holds the whole file
            return
        part.unlink()
        raise _Incomplete(f"the server refused to resume at byte {offset}; restarting") from None
    with resp.stream:
        if resp.start > offset:  # a range that would leave a hole: start over
            part.unlink()
            raise _Incomplete(f"the server answered from byte {resp.start}, not {offset}")
        offset = resp.start  # 0 when the server ignored Range and sent the whole file (200)
        if resp.total is not None:
            _check_free_space(part, resp.total - offset)
        with open(part, "r+b" if part.exists() else "wb") as out:
            out.seek(offset)
            out.truncate()
            got = _copy_stream(resp.stream, out, offset, resp.total, progress, part.name)
    if resp.total is not None and got != resp.total:
        raise _Incomplete(f"received {got} of the {resp.total} bytes announced")


class _RangeRefused(Exception):
    """Internal: the server answered 416 to a Range request; `total` is its size (None: unknown)."""

    def __init__(self, total: int | None):
        super().__init__(total)
        self.total = total


def _open(url: str, offset: int, timeout: float) -> _Response:
    """GET `url`, asking for the bytes from `offset` on when offset > 0."""
    headers = {"User-Agent": "ssvlib", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        stream = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http(s) only)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            match = re.match(r"bytes \*/(\d+)", err.headers.get("Content-Range") or "")
            err.close()
            raise _RangeRefused(int(match.group(1)) if match else None) from None
        raise DownloadError(f"{url} answered HTTP {err.code} {err.reason}; check the URL") from err
    except (urllib.error.URLError, OSError) as err:
        raise DownloadError(
            f"cannot reach {url} ({err}). Check your connection; if the site's certificate or "
            f"the network blocks the download, fetch the file with a browser, put it where "
            f"this function would write it, and rerun."
        ) from err
    start, total = _parse_range(stream)
    return _Response(stream, start, total)


def _parse_range(stream: http.client.HTTPResponse) -> tuple[int, int | None]:
    """Return (first byte in the body, full file size or None) from the response headers."""
    length = stream.headers.get("Content-Length")
    if stream.status == 206:
        match = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", stream.headers.get("Content-Range", ""))
        if match is None:
            raise DownloadError(f"{stream.url} sent 206 without a valid Content-Range header")
        start = int(match.group(1))
        total = None if match.group(3) == "*" else int(match.group(3))
        if total is None and length is not None:
            total = start + int(length)
        return start, total
    return 0, (int(length) if length is not None else None)


def _copy_stream(
    stream: IO[bytes], out: IO[bytes], offset: int, total: int | None, progress: bool, name: str
) -> int:
    """Copy `stream` into `out` with a progress bar; return the byte count `out` then holds."""
    got = offset
    with tqdm(
        total=total,
        initial=offset,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=name.removesuffix(".part"),
        disable=not progress,
    ) as bar:
        while True:
            try:
                chunk = stream.read(CHUNK)
            except (http.client.IncompleteRead, OSError) as err:  # cut or timeout mid-body
                if isinstance(err, http.client.IncompleteRead) and err.partial:
                    out.write(err.partial)
                    got += len(err.partial)
                break
            if not chunk:
                break
            out.write(chunk)
            got += len(chunk)
            bar.update(len(chunk))
    return got


def _check_free_space(path: Path, needed: int) -> None:
    """Raise a DownloadError when the disk holding `path` has less than `needed` bytes free."""
    free = shutil.disk_usage(path.parent).free
    if needed > free:
        raise DownloadError(
            f"{path.name} needs {needed / 1e9:.2f} GB more but {path.parent} has only "
            f"{free / 1e9:.2f} GB free; free some space or choose another root"
        )


# ---------------------------------------------------------------------------------------------
# Manifest
# ---------------------------------------------------------------------------------------------


def sha256_file(path: str | Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def md5_and_sha256(path: str | Path) -> tuple[str, str]:
    """Return the hex md5 and sha256 of a file, both from one read in 1 MiB chunks."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            md5.update(chunk)
            sha256.update(chunk)
    return md5.hexdigest(), sha256.hexdigest()


def read_manifest(root: str | Path) -> dict[str, dict]:
    """Return the manifest of `root` (file name -> {'size', 'sha256', ...}); {} if there is none."""
    path = Path(root) / MANIFEST_NAME
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DownloadError(f"{path} is not valid JSON ({err}); delete it and rerun") from err


def add_to_manifest(root: str | Path, path: str | Path, entry: dict | None = None) -> dict:
    """Record `entry` (default: size and sha256) for `path`, a file in `root`; return the entry."""
    root, path = Path(root), Path(path)
    if entry is None:
        entry = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    manifest = read_manifest(root)
    manifest[path.name] = entry
    atomic_write_text(root / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return entry


def verify_manifest(root: str | Path, names: Iterable[str] | None = None) -> list[str]:
    """Check files listed in the manifest (or only `names`) against their size and sha256.

    Returns one line per problem, naming the file and the fix. Listed files that are absent are
    not problems: an archive may be deleted once it is extracted.
    """
    root = Path(root)
    manifest = read_manifest(root)
    problems = []
    for name in manifest if names is None else names:
        path = root / name
        if name not in manifest or not path.exists():
            continue
        problem = _manifest_problem(path, manifest[name], lambda p=path: sha256_file(p))
        if problem:
            problems.append(problem)
    return problems


def _manifest_problem(path: Path, want: dict, sha256: Callable[[], str]) -> str | None:
    """Say how `path` differs from its manifest entry `want`; None when it matches."""
    size = path.stat().st_size
    if size != want["size"]:
        return (
            f"{path}: {size} bytes, but the manifest recorded {want['size']} after the "
            f"download (truncated or corrupted); delete it and rerun the download"
        )
    if sha256() != want["sha256"]:
        return (
            f"{path}: sha256 differs from the one recorded after the download (corrupted); "
            f"delete it and rerun the download"
        )
    return None


def check_archive(
    root: str | Path, archive: str | Path, *, trust: bool = False, fresh: bool = False
) -> dict:
    """Check an archive in `root` before extraction; return its manifest entry, not yet recorded.

    One read gives its md5 and sha256. Unless `fresh` (just downloaded: an old entry is stale), an
    entry already in the manifest must still match. Then the md5 must equal the published one in
    `PUBLISHED_MD5` (pinned by other loaders, not confirmed by us), unless `trust`. A mismatch
    raises a DownloadError naming the file and the fix. `md5_check` in the entry is 'matched' when
    the md5 equals the published one, else 'unchecked' (trusted, or no published md5 for the name).
    """
    root, archive = Path(root), Path(archive)
    md5, sha256 = md5_and_sha256(archive)
    recorded = read_manifest(root).get(archive.name)
    if recorded and not fresh:
        problem = _manifest_problem(archive, recorded, lambda: sha256)
        if problem:
            raise DownloadError(problem)
    published = PUBLISHED_MD5.get(archive.name)
    matched = published is not None and md5 == published.md5
    if published is not None and not matched and not trust:
        raise DownloadError(_md5_mismatch(archive, published, md5))
    return {
        "size": archive.stat().st_size,
        "sha256": sha256,
        "md5": md5,
        "published_md5": published.md5 if published else None,
        "md5_check": "matched" if matched else "unchecked",
    }


def _md5_mismatch(archive: Path, published: Published, md5: str) -> str:
    """The error for an archive whose md5 is not the published one: what was found, what to do."""
    return (
        f"{archive}: md5 {md5}, but the published {archive.name} has md5 {published.md5} (as "
        f"pinned by {published.source}). It is not the published archive (a broken mirror, a "
        f"transfer cut short, a changed file); nothing was extracted. Delete {archive} and rerun "
        f"the download. If the server now publishes a different {archive.name} on purpose, rerun "
        f"with --trust-download (or {TRUST_ENV}=1; Python: trust_download=True) to accept it; "
        f"the manifest then records it as unchecked."
    )


# ---------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------


@dataclass
class _Member:
    """One archive entry: its stored name, what it is, and how to open its bytes."""

    name: str
    is_dir: bool
    is_link: bool
    open: Callable[[], IO[bytes]]


def extract_archive(archive: str | Path, dest: str | Path) -> list[Path]:
    """Extract a .zip or .rar into `dest` and return the paths written.

    Every member is checked before anything is written: absolute paths, `..` and symlinks are
    refused with an ArchiveError naming the member. A marker file in `dest` records a finished
    extraction, so a second call returns the same list without extracting again.
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise ArchiveError(f"archive {archive} does not exist; download it first")
    dest.mkdir(parents=True, exist_ok=True)
    marker = dest / (MARKER_PREFIX + archive.name)
    if marker.exists():
        return [dest / rel for rel in json.loads(marker.read_text())]
    with _open_archive(archive) as members:
        targets = [_safe_target(dest, m.name, archive) for m in members]
        for member in members:
            if member.is_link:
                raise ArchiveError(
                    f"{archive}: member {member.name!r} is a symbolic link; refusing to extract "
                    f"links (they can point outside {dest}). Is this the right archive?"
                )
        written = [_write_member(m, t, archive) for m, t in zip(members, targets, strict=True)]
    _write_marker(marker, dest, written)
    return written


def _write_marker(marker: Path, dest: Path, written: list[Path]) -> None:
    """Record a finished extraction into `dest`: `marker` lists the paths written, relative."""
    marker.write_text(json.dumps([p.relative_to(dest).as_posix() for p in written], indent=0))


def _safe_target(dest: Path, name: str, archive: Path) -> Path:
    """Return where member `name` goes inside `dest`, or raise when it would land outside."""
    clean = name.replace("\\", "/")
    parts = PurePosixPath(clean).parts
    bad = (
        clean.startswith("/")
        or re.match(r"^[A-Za-z]:", clean) is not None
        or ".." in parts
        or not parts
    )
    target = dest.joinpath(*parts) if parts else dest
    root = dest.resolve()
    if not bad and not (target.resolve() == root or target.resolve().is_relative_to(root)):
        bad = True
    if bad:
        raise ArchiveError(
            f"{archive}: member {name!r} would be written outside {dest} (absolute path, '..' or "
            "a link on the way); refusing to extract this archive. Is it the right file?"
        )
    return target


def _write_member(member: _Member, target: Path, archive: Path) -> Path:
    """Write one member (a folder or a file) to `target`, through a temporary name."""
    if member.is_dir:
        target.mkdir(parents=True, exist_ok=True)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        atomic_write(target, lambda tmp: _copy_member(member, tmp))
    except Exception as err:
        if isinstance(err, rarfile.RarCannotExec):
            raise ArchiveError(f"{archive}: cannot read {member.name!r}. {RAR_TOOL_HELP}") from err
        raise ArchiveError(
            f"{archive}: member {member.name!r} cannot be read ({err}); the archive is probably "
            f"corrupted: delete {archive} and rerun the download"
        ) from err
    return target


def _copy_member(member: _Member, path: Path) -> None:
    """Copy one file member's bytes to `path`."""
    with member.open() as src, open(path, "wb") as out:
        shutil.copyfileobj(src, out, CHUNK)


@contextmanager
def _open_archive(archive: Path) -> Iterator[list[_Member]]:
    """Open a zip or rar archive and yield its members; close it afterwards."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as handle:
            yield [_zip_member(handle, info) for info in handle.infolist()]
        return
    if not (archive.suffix.lower() == ".rar" or rarfile.is_rarfile(archive)):
        raise ArchiveError(f"{archive} is neither a zip nor a rar archive; cannot extract it")
    try:
        handle = rarfile.RarFile(archive)
    except rarfile.Error as err:
        raise ArchiveError(
            f"{archive} is not a readable RAR archive ({err}); delete it and rerun the download"
        ) from err
    with handle:
        infos = handle.infolist()
        if any(i.is_file() and i.compress_type != rarfile.RAR_M0 for i in infos):
            require_rar_tool()
        yield [_rar_member(handle, info) for info in infos]


def _zip_member(handle: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Member:
    """Describe one zip entry; a symlink is a member whose Unix mode says S_IFLNK."""
    is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
    return _Member(info.filename, info.is_dir(), is_link, lambda: handle.open(info))


def _rar_member(handle, info) -> _Member:
    """Describe one rar entry; RAR5 hard links and file copies count as links."""
    is_link = info.is_symlink() or getattr(info, "file_redir", None) is not None
    return _Member(info.filename, info.is_dir(), is_link, lambda: handle.open(info))


def require_rar_tool() -> None:
    """Raise an ArchiveError with install instructions when rarfile finds no unpacking tool."""
    try:
        rarfile.tool_setup()
    except rarfile.RarCannotExec as err:
        raise ArchiveError(RAR_TOOL_HELP) from err


# ---------------------------------------------------------------------------------------------
# UCF-101
# ---------------------------------------------------------------------------------------------


def download_ucf101(
    root: str | Path,
    *,
    videos: bool = True,
    splits: bool = True,
    url_videos: str = URL_VIDEOS,
    url_splits: str = URL_SPLITS,
    progress: bool = True,
    trust_download: bool = False,
) -> Path:
    """Download and extract UCF-101 into `root`: `root/UCF-101/` and `root/ucfTrainTestlist/`.

    Safe to rerun: an extracted archive is skipped, a cut download resumes. Every archive, whether
    downloaded now or already in `root` (downloaded before, or by hand), is checked before
    extraction against the manifest and its published md5 (see `check_archive`; the md5 sums are
    pinned by other loaders, not confirmed by us). `trust_download=True`, or SSV_TRUST_DOWNLOAD=1,
    accepts an archive whose md5 differs. The archives stay in `root`; delete them after extraction
    to save about 6.5 GB.
    """
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    trust = _trusting(trust_download)
    jobs = [(url_splits, "ucfTrainTestlist")] if splits else []
    jobs += [(url_videos, "UCF-101")] if videos else []
    for url, folder in jobs:
        _fetch_and_extract(root, url, folder, progress=progress, trust=trust)
    return root


def _trusting(trust_download: bool) -> bool:
    """True when `trust_download` is set or SSV_TRUST_DOWNLOAD is set to anything but '' or '0'."""
    return trust_download or os.environ.get(TRUST_ENV, "") not in ("", "0")


def _fetch_and_extract(
    root: Path, url: str, folder: str, *, progress: bool, trust: bool, nested: bool = False
) -> None:
    """Bring one archive into `root`, check it, extract it; check `folder` appears.

    A fresh download, or an archive the manifest already lists, is recorded before extraction;
    one placed by hand only once it has extracted. With `nested`, the archive holds archives,
    each extracted into `root/folder` (see `_extract_nested`); otherwise it is extracted into
    `root` and holds `folder` at its top.
    """
    name = archive_name(url)
    archive = root / name
    marker = root / (MARKER_PREFIX + name)
    if marker.exists():
        if (root / folder).is_dir():
            return
        marker.unlink()  # the extracted folder was removed: extract again
    fresh = not archive.exists()
    if fresh:
        download_file(url, archive, progress=progress)
    entry = check_archive(root, archive, trust=trust, fresh=fresh)
    recorded = fresh or name in read_manifest(root)
    if recorded:
        add_to_manifest(root, archive, entry)
    if nested:
        _extract_nested(archive, root, folder)
    else:
        extract_archive(archive, root)
    if not (root / folder).is_dir():
        raise ArchiveError(
            f"{archive} was extracted but {root / folder} did not appear; is {url} the right "
            f"archive? Expected it to hold a top-level folder {folder!r}."
        )
    if not recorded:
        add_to_manifest(root, archive, entry)


def archive_name(url: str) -> str:
    """Return the file name a URL points at ('.../UCF101.rar' -> 'UCF101.rar')."""
    name = os.path.basename(urllib.parse.unquote(urllib.parse.urlparse(url).path))
    if not name:
        raise ValueError(f"url={url!r} does not end in a file name; give the archive's full URL")
    return name


# ---------------------------------------------------------------------------------------------
# HMDB-51
# ---------------------------------------------------------------------------------------------


def download_hmdb51(
    root: str | Path,
    *,
    videos: bool = True,
    url_videos: str = URL_HMDB51_VIDEOS,
    url_splits: str = URL_HMDB51_SPLITS,
    progress: bool = True,
    trust_download: bool = False,
) -> Path:
    """Download and extract HMDB-51 into `root`: `testTrainMulti_7030_splits/`, `videos/<action>/`.

    Safe to rerun and checked, as `download_ucf101` (`trust_download` likewise); besides, an
    extraction cut among the 51 per-action archives resumes with the first action not finished.
    The archives stay in `root` (about 2 GB); while extracting, the per-action archives take about
    2 GB more in a temporary folder there.
    """
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    trust = _trusting(trust_download)
    _fetch_and_extract(root, url_splits, hmdb51.SPLIT_DIR, progress=progress, trust=trust)
    if videos:
        _fetch_and_extract(
            root, url_videos, hmdb51.VIDEO_DIR, progress=progress, trust=trust, nested=True
        )
    return root


def _extract_nested(archive: Path, root: Path, folder: str) -> None:
    """Extract the archives that `archive` holds into `root/folder`, through a temporary folder.

    Each inner archive gets its own marker in `root/folder`, so a cut run resumes with the first
    one not finished. At the end the temporary folder and those markers go, and one marker for
    `archive` in `root` records every path written.
    """
    tmp, dest = root / (UNPACK_PREFIX + archive.name), root / folder
    unpacked = extract_archive(archive, tmp)
    inner = [p for p in unpacked if p.suffix.lower() == ".rar" and p.is_file()]
    if not inner:
        shutil.rmtree(tmp)
        raise ArchiveError(
            f"{archive} holds no .rar archives (HMDB-51's videos come as one RAR per action); "
            f"is it the right file? Delete {archive} and rerun the download."
        )
    written: list[Path] = []
    for path in sorted(inner):
        try:
            written += extract_archive(path, dest)
        except ArchiveError as err:
            if isinstance(err.__cause__, rarfile.RarCannotExec):
                raise  # a missing tool, not a damaged archive: the install hint says it all
            shutil.rmtree(tmp)  # unpacked from a damaged download: of no use for the next one
            raise ArchiveError(
                f"{path.name}, one of the archives inside {archive}, is corrupted or not a RAR "
                f"({err.__cause__ or err}); {archive.name} is probably damaged. Delete {archive} "
                f"and rerun the download to fetch it again."
            ) from err
    shutil.rmtree(tmp)
    _write_marker(root / (MARKER_PREFIX + archive.name), root, written)
    for path in inner:
        (dest / (MARKER_PREFIX + path.name)).unlink(missing_ok=True)
