"""Reading and writing by URI: local paths by default, any fsspec URL (s3://, gs://) in production.

Writes are atomic: a reader sees the old object or the new one, never half of one (a local file is
renamed into place; an object is one PUT, or a multipart upload that S3 publishes only when it
completes). A folder is published file by file with the file a reader looks up written last.
Calls to an object store are retried with backoff (tenacity) before the URI is named in an error.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from pipeline.errors import DataSourceError, StorageError

HTTP_TIMEOUT_S = 30
# An object store that is unreachable for a moment (a restart, a network blip) is retried; a
# store that stays away fails the task with the URI named, for Airflow's own retries to take over.
REMOTE_ATTEMPTS = 4
REMOTE_WAIT_S = (0.5, 8.0)

log = logging.getLogger(__name__)


def _remote(uri: str, what: str, call: Callable[[Any, str], Any]) -> Any:
    """Run call(filesystem, path) on an object store, retried; FileNotFoundError passes through."""
    import fsspec
    import tenacity

    fs, path = fsspec.core.url_to_fs(uri)
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(REMOTE_ATTEMPTS),
        wait=tenacity.wait_exponential(min=REMOTE_WAIT_S[0], max=REMOTE_WAIT_S[1]),
        # Errors only (an interrupt or a task timeout is not retried), and not those a retry cannot mend.
        retry=tenacity.retry_if_exception_type(Exception)
        & tenacity.retry_if_not_exception_type((FileNotFoundError, PermissionError)),
        before_sleep=lambda state: log.warning("retrying to %s %s (attempt %d of %d): %s", what, uri,
                                               state.attempt_number + 1, REMOTE_ATTEMPTS,
                                               state.outcome.exception()),
        reraise=True)
    return retrying(call, fs, path)


def is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def local_path(uri: str) -> Path:
    return Path(uri[len("file://"):] if uri.startswith("file://") else uri)


def join(base: str, *parts: str) -> str:
    if is_local(base):
        return str(local_path(base).joinpath(*parts))
    return "/".join([base.rstrip("/"), *parts])


def parent(uri: str) -> str:
    return str(local_path(uri).parent) if is_local(uri) else uri.rstrip("/").rsplit("/", 1)[0]


def read_bytes(uri: str) -> bytes:
    """Read a whole object; a missing or unreachable source raises DataSourceError naming it."""
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri, timeout=HTTP_TIMEOUT_S) as response:  # noqa: S310
                return response.read()
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DataSourceError(f"cannot reach data source {uri}: {reason}") from exc
    if is_local(uri):
        path = local_path(uri)
        if not path.exists():
            raise DataSourceError(f"data source {uri} does not exist")
        if path.is_dir():
            raise DataSourceError(f"data source {uri} is a directory, not a file")
        return path.read_bytes()
    try:
        return _remote(uri, "read", lambda fs, path: fs.cat_file(path))
    except FileNotFoundError as exc:
        raise DataSourceError(f"data source {uri} does not exist") from exc
    except Exception as exc:  # any backend error: say which URI failed
        raise DataSourceError(f"cannot read {uri}: {exc}") from exc


def exists(uri: str) -> bool:
    if is_local(uri):
        return local_path(uri).exists()
    try:
        return _remote(uri, "look up", lambda fs, path: fs.exists(path))
    except Exception as exc:
        raise StorageError(f"cannot reach {uri}: {type(exc).__name__}: {exc}") from exc


def write_bytes(uri: str, data: bytes) -> str:
    """Write atomically: temporary file in the same directory, then rename over the target. Raises
    StorageError naming the URI when it cannot be written (disk full, no permission): the object
    that was there stays as it was."""
    if not is_local(uri):
        try:  # one PUT (or a multipart upload that is published when complete, aborted otherwise)
            _remote(uri, "write", lambda fs, path: fs.pipe_file(path, data))
        except Exception as exc:
            raise StorageError(f"cannot write {uri} ({len(data):,} bytes): {type(exc).__name__}: {exc}") from exc
        return uri
    path = local_path(uri)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise StorageError(f"cannot write {path} ({len(data):,} bytes): {exc.strerror or exc}") from exc
    finally:
        if tmp is not None and Path(tmp).exists():
            Path(tmp).unlink(missing_ok=True)
    return str(path)


def write_json(uri: str, payload: Any) -> str:
    return write_bytes(uri, json.dumps(payload, indent=2, sort_keys=True, default=str).encode())


def read_json(uri: str) -> Any:
    return json.loads(read_bytes(uri))


def local_copy_dir(uri: str) -> Path:
    """A local directory for writing a folder of files that is then published with publish_dir."""
    if is_local(uri):
        path = local_path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    return Path(tempfile.mkdtemp(prefix="ridership-"))


def publish_dir(staging: Path, uri: str, entry: str = "index.html") -> str:
    """Move a fully written staging directory to its final URI in one step (local), or upload its
    files with `entry` (the file a reader opens) last, so that a reader who finds the entry finds
    every file. Targets are content-addressed: one already published is kept as it is."""
    if is_local(uri):
        target = local_path(uri)
        if target.exists():
            shutil.rmtree(staging, ignore_errors=True)
            return str(target)
        os.replace(staging, target)
        return str(target)
    try:
        if not exists(join(uri, entry)):
            files = sorted((p for p in staging.rglob("*") if p.is_file()), key=lambda p: p == staging / entry)
            for file in files:
                write_bytes(join(uri, *file.relative_to(staging).parts), file.read_bytes())
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return uri


def fetch_dir(uri: str) -> tuple[Path, bool]:
    """A local folder holding the files under `uri`, and whether it is a temporary copy (of an
    object-store prefix) that the caller removes."""
    if is_local(uri):
        return local_path(uri), False
    scratch = Path(tempfile.mkdtemp(prefix="ridership-fetch-"))
    try:
        _remote(uri, "download", lambda fs, path: fs.get(path.rstrip("/") + "/", str(scratch), recursive=True))
    except Exception as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        raise StorageError(f"cannot download {uri}: {type(exc).__name__}: {exc}") from exc
    return scratch, True
