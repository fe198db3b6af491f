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

from pipeline.errors import DataSourceError

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
    """Write atomically: temporary file in the same directory, then rename over the target."""
    if not is_local(uri):
        import fsspec

        with fsspec.open(uri, "wb") as handle:  # object stores publish a put atomically
            handle.write(data)
        return uri
    path = local_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
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
