"""Where WARC files live: the local spool ``archive/warc``, and object storage when
``archive.url`` is set (S3, MinIO or any store fsspec opens).

Records are always appended to a file in the spool: WARC appends, ``flock`` and ``fsync``
need a local file, and so a record is on disk before its database row commits, wherever
the file goes later. A closed file (rotated by size, by age — ``archive.upload_after`` —
or at stop) is uploaded by a background thread, verified (its size, and its MD5 where
the store's ETag is one), and only then removed from the spool. A record is read from
the spool while its file is there, else from the store with a ranged read: reading one
record never fetches the whole object.

Nothing is lost when the store is unreachable: the failure is logged, the file stays in
the spool and is tried again on the next rotation, period or start. A file a crash left
behind is cut to its last whole record by ``WarcArchive.recover`` at start, then
uploaded; a file that does not read to its end is never uploaded.

Credentials are not settings: s3fs (botocore) reads the standard AWS environment
variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``…), the
``~/.aws`` files or an instance role.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from monitor.archive.warc import OWN_NAME, ArchiveError, scan_warc

log = logging.getLogger("monitor.archive.storage")
_BLOCK = 1 << 20
_MD5 = re.compile(r"[0-9a-f]{32}")  # a single-part S3 upload's ETag is the MD5 of the object
_WARC_SUFFIXES = (".warc.gz", ".warc")
# Fail in seconds, not minutes, when the store is down: the upload is retried anyway.
_S3_OPTIONS: dict[str, Any] = {
    "config_kwargs": {"connect_timeout": 10, "read_timeout": 60,
                      "retries": {"max_attempts": 2, "mode": "standard"}},
}
_S3_RETRIES = 2  # s3fs's own retries around botocore's (a class attribute, 5 by default)


class _Unreachable(Exception):
    """The store did not answer: the rest of this upload pass waits for the next one."""


def check_url(url: str) -> None:
    """Raise ValueError unless ``url`` names a store fsspec can open (scheme known, package there)."""
    import fsspec

    scheme, sep, rest = url.partition("://")
    if not sep or not scheme or not rest.strip("/"):
        raise ValueError(f"not a storage URL: {url!r} (e.g. s3://bucket/prefix)")
    try:
        fsspec.get_filesystem_class(scheme)
    except ValueError:
        raise ValueError(f"unknown storage scheme {scheme!r} in {url!r} (s3://bucket/prefix "
                         "for S3 or MinIO)") from None
    except ImportError as exc:
        raise ValueError(f"{scheme}:// needs a package that is not installed ({exc})") from None


class ObjectStore:
    """WARC files in object storage under ``url``; ``spool`` holds them until they are uploaded."""

    def __init__(self, url: str, spool: Path, *, endpoint_url: str = "") -> None:
        from fsspec.core import url_to_fs  # fsspec and s3fs load only when a store is set

        check_url(url)
        self.url = url.rstrip("/")
        self.spool = Path(spool)
        options = dict(_S3_OPTIONS) if url.startswith(("s3://", "s3a://")) else {}
        if endpoint_url:
            options["endpoint_url"] = endpoint_url
        self._fs, root = url_to_fs(self.url, **options)
        if options:
            self._fs.retries = _S3_RETRIES
        self._root = str(root).rstrip("/")
        self._pass = threading.Lock()  # one upload pass at a time in this process
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._uploading = False  # this process writes: flush() uploads what it closed
        self._torn: dict[str, int] = {}  # name -> size at which it failed to read to its end

    def key(self, name: str) -> str:
        """The object's path in the store (fsspec form, without the scheme)."""
        return f"{self._root}/{name}"

    # ------------------------------------------------------------------ reading

    def read(self, name: str, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` of the object: one ranged request."""
        try:
            data = self._fs.cat_file(self.key(name), start=offset, end=offset + length)
        except FileNotFoundError:
            raise ArchiveError(f"{name}: neither in the spool nor in {self.url}") from None
        except Exception as exc:  # botocore, aiohttp and OS errors all mean the same here
            raise ArchiveError(f"{name}: cannot read from {self.url} ({_one_line(exc)})") from exc
        return bytes(data)

    def sizes(self) -> dict[str, int]:
        """Every WARC file in the store and its size."""
        try:
            self._fs.invalidate_cache(self._root)
            found = self._fs.ls(self._root, detail=True)
        except FileNotFoundError:
            return {}
        except Exception as exc:
            raise ArchiveError(f"cannot list {self.url} ({_one_line(exc)})") from exc
        return {Path(str(e["name"])).name: int(e["size"]) for e in found
                if e.get("type") == "file" and str(e["name"]).endswith(_WARC_SUFFIXES)}

    def download(self, name: str, destination: Path) -> None:
        try:
            self._fs.get_file(self.key(name), str(destination))
        except Exception as exc:
            raise ArchiveError(f"{name}: cannot download from {self.url} ({_one_line(exc)})") from exc

    # ------------------------------------------------------------------ uploading

    def start(self, every: float, tick: Callable[[], None] | None = None) -> None:
        """Upload from a background thread: now, whenever a file is closed, and every
        ``every`` seconds (after ``tick``, which closes a file open too long)."""
        self._uploading = True
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, args=(every, tick),
                                            name="warc-upload", daemon=True)
            self._thread.start()

    def closed(self, name: str) -> None:
        """The writer closed ``name``: upload it soon (at the latest on flush)."""
        self._uploading = True
        self._wake.set()

    def flush(self) -> None:
        """Stop the thread and upload what is closed now; what fails stays in the spool."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping = True
            self._wake.set()
            thread.join()
        if self._uploading:
            self.upload_closed()

    def _run(self, every: float, tick: Callable[[], None] | None) -> None:
        while not self._stopping:
            self._wake.clear()
            if tick is not None:
                try:
                    tick()
                except OSError as exc:  # the writer reports it on its next write too
                    log.warning("closing an old WARC file failed: %s", exc)
            self.upload_closed()
            self._wake.wait(every)

    def upload_closed(self) -> list[str]:
        """Upload every closed file of the service in the spool; one line per file kept back."""
        kept: list[str] = []
        with self._pass:
            names = sorted(p.name for p in self.spool.glob("*.warc.gz") if OWN_NAME.fullmatch(p.name))
            for done, name in enumerate(names):
                try:
                    kept.append(self.upload(name) or "")
                except _Unreachable as exc:  # one timeout is enough: the others wait too
                    waiting = len(names) - done - 1
                    kept.append(f"{exc}" + (f" (and {waiting} more files wait)" if waiting else ""))
                    break
        kept = [line for line in kept if line]
        for line in kept:
            log.warning("WARC upload: %s", line)
        return kept

    def upload(self, name: str) -> str | None:
        """Upload one closed spool file, verify it, remove it from the spool.

        Returns why it stays in the spool, or None (done, or not ours to do now: a writer
        or another uploader holds the file, or it was just created); raises _Unreachable
        when the store cannot be reached."""
        path = self.spool / name
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return None
        with fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # as recover() does
            except OSError:
                return None
            stat = os.fstat(fh.fileno())
            if stat.st_nlink == 0 or stat.st_size == 0 or self._torn.get(name) == stat.st_size:
                return None  # uploaded meanwhile, not yet written (no warcinfo), or known torn
            problem = self._send(path, fh, stat.st_size)
            if problem is None:
                path.unlink()
            return problem

    def _send(self, path: Path, fh: BinaryIO, size: int) -> str | None:
        scan = scan_warc(path)
        if scan.problem is not None:
            self._torn[path.name] = size
            return (f"{path.name}: {scan.problem}; kept in the spool until the start of "
                    "'monitor check' or 'monitor run' repairs it")
        digest = _md5(fh)
        key = self.key(path.name)
        try:
            self._fs.put_file(str(path), key)
            self._fs.invalidate_cache(key)
            info = self._fs.info(key)
        except Exception as exc:
            raise _Unreachable(f"{path.name}: upload to {self.url} failed ({_one_line(exc)}); "
                               "kept in the spool") from exc
        etag = str(info.get("ETag") or "").strip('"')
        if int(info.get("size") or 0) != size:
            return f"{path.name}: {self.url} holds {info.get('size')} bytes of {size}; kept in the spool"
        if _MD5.fullmatch(etag) and etag != digest:
            return f"{path.name}: {self.url} holds other bytes (MD5 {etag}, not {digest}); kept in the spool"
        return None


class WarcFiles:
    """The archive's files wherever they are: in the spool while there, else in the store.

    What ``monitor verify`` reads through; without a store it is the spool alone."""

    def __init__(self, spool: Path, store: ObjectStore | None = None) -> None:
        self.spool = Path(spool)
        self.store = store
        self._remote: dict[str, int] | None = None

    def _remote_sizes(self) -> dict[str, int]:
        if self._remote is None:
            self._remote = self.store.sizes() if self.store is not None else {}
        return self._remote

    def names(self) -> list[str]:
        local = ({p.name for p in self.spool.iterdir() if p.name.endswith(_WARC_SUFFIXES) and p.is_file()}
                 if self.spool.is_dir() else set())
        return sorted(local | set(self._remote_sizes()))

    def size(self, name: str) -> int | None:
        """Bytes in the file, None when it is nowhere; raises OSError when the spool cannot tell."""
        try:
            return (self.spool / name).stat().st_size
        except FileNotFoundError:
            if name not in self._remote_sizes():
                self._remote = None  # uploaded since the store was listed?
            return self._remote_sizes().get(name)

    def in_spool(self, name: str) -> bool:
        return (self.spool / name).is_file()

    def read(self, name: str, offset: int, length: int) -> bytes:
        try:
            with open(self.spool / name, "rb") as fh:
                return os.pread(fh.fileno(), length, offset)
        except FileNotFoundError:
            if self.store is None:
                raise ArchiveError(f"{name}: file does not exist") from None
            return self.store.read(name, offset, length)
        except OSError as exc:
            raise ArchiveError(f"{name}: {exc.strerror or exc}") from exc

    @contextlib.contextmanager
    def local(self, name: str) -> Iterator[Path]:
        """A local path to the whole file: the spool's, or a downloaded copy removed after."""
        if self.in_spool(name) or self.store is None:
            yield self.spool / name
            return
        with tempfile.TemporaryDirectory(prefix="monitor-verify-") as scratch:
            copy = Path(scratch) / name
            self.store.download(name, copy)
            yield copy


def _md5(fh: BinaryIO) -> str:
    fh.seek(0)
    digest = hashlib.md5(usedforsecurity=False)
    while block := fh.read(_BLOCK):
        digest.update(block)
    return digest.hexdigest()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
