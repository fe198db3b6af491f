"""Reading and writing by URI: local paths by default, any fsspec URL (s3://, gs://) in production.

Writes are atomic: a reader sees the old object or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pipeline.errors import DataSourceError, StorageError

HTTP_TIMEOUT_S = 30


def is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def local_path(uri: str) -> Path:
    return Path(uri[len("file://"):] if uri.startswith("file://") else uri)


def join(base: str, *parts: str) -> str:
    if is_local(base):
        return str(local_path(base).joinpath(*parts))
    return "/".join([base.rstrip("/"), *parts])


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
        import fsspec

        with fsspec.open(uri, "rb") as handle:
            return handle.read()
    except FileNotFoundError as exc:
        raise DataSourceError(f"data source {uri} does not exist") from exc
    except Exception as exc:  # any backend error: say which URI failed
        raise DataSourceError(f"cannot read {uri}: {exc}") from exc


def exists(uri: str) -> bool:
    if is_local(uri):
        return local_path(uri).exists()
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    return fs.exists(path)


def write_bytes(uri: str, data: bytes) -> str:
    """Write atomically: temporary file in the same directory, then rename over the target. Raises
    StorageError naming the URI when it cannot be written (disk full, no permission): the object
    that was there stays as it was."""
    if not is_local(uri):
        import fsspec

        try:
            with fsspec.open(uri, "wb") as handle:  # object stores publish a put atomically
                handle.write(data)
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


def publish_dir(staging: Path, uri: str) -> str:
    """Move a fully written staging directory to its final URI in one step (local) or upload it."""
    if is_local(uri):
        target = local_path(uri)
        if target.exists():
            # Content-addressed targets are identical when present: keep the first one.
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
            return str(target)
        os.replace(staging, target)
        return str(target)
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    fs.put(str(staging), path, recursive=True)
    return uri
