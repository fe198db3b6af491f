"""The artifact root on an object store: an S3 API on 127.0.0.1 (moto's server mode).

What one task writes, another task on another machine (another home) reads from the store alone;
an upload that dies before it completes publishes nothing; a store away for a moment is retried,
one that stays away is named.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import date
from pathlib import Path

import pytest

from pipeline.inputs import windows
from pipeline.io import storage
from pipeline.nightly import steps
from pipeline.config import PROJECT_ROOT, Settings
from pipeline.errors import DataSourceError, StorageError

BUCKET = "ridership"
AS_OF = date(2019, 5, 31)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_s3(port: int = 0):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, "http://{}:{}".format(*server.get_host_and_port())


def use_endpoint(monkeypatch, endpoint: str) -> None:
    import s3fs

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()  # a cached client would keep the last endpoint


@pytest.fixture
def s3(monkeypatch):
    import boto3

    server, endpoint = start_s3()
    use_endpoint(monkeypatch, endpoint)
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))  # one store per test
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    yield client
    server.stop()


def keys(client, prefix: str = "") -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def files(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())


def test_what_one_home_prepares_another_home_reads_from_the_store_alone(s3, tmp_path):
    root = f"s3://{BUCKET}/pipeline"
    writer = Settings(home=tmp_path / "worker-1", artifact_root=root, as_of=AS_OF, train_months=6,
                      families=("naive", "linear"))
    at_cutoff, run = steps.prepare(writer, {"trigger": "test"})

    stored = keys(s3, "pipeline/")
    for expected in ("pipeline/clean/latest.json", "pipeline/datadocs/", "pipeline/raw/", "pipeline/windows/",
                     "pipeline/mlflow/"):
        assert any(k.startswith(expected) for k in stored), (expected, stored)
    assert run["manifest_uri"].startswith(root) and run["manifest_uri"].endswith("/manifest.json")
    assert any(k.startswith("pipeline/datadocs/") and k.endswith("/index.html") for k in stored)
    # The data docs reached the parent run through the object store too.
    assert any(k.startswith("pipeline/mlflow/") and "/data_docs/" in k for k in stored)
    # The worker's home keeps its local MLflow store and nothing another task reads.
    assert [f for f in files(writer.home) if not f.startswith("mlflow.db")] == []

    reader = writer.with_overrides(home=tmp_path / "worker-2")
    pointer = steps.latest_clean(reader)
    assert pointer["clean_uri"].startswith(f"{root}/clean/")
    frame = steps.load_clean(pointer["clean_uri"])
    assert at_cutoff.as_of == AS_OF and frame.index.min().year == 2001 and frame.index.max().date() >= AS_OF
    manifest = storage.read_json(run["manifest_uri"])
    spec = next(spec for spec in (f.window_spec() for f in _families(reader)) if spec is not None)
    arrays = windows.load_windows(manifest, spec)
    assert arrays["X_fit"].shape[0] > 0 and arrays["X_fit"].shape[0] == arrays["y_fit"].shape[0]
    assert not (tmp_path / "worker-2").exists()


def _families(settings: Settings):
    from pipeline import families

    return [families.create(name, settings) for name in settings.families]


KILLED_UPLOAD = """
import asyncio, os, signal, sys
import s3fs
from pipeline.io import storage

calls = s3fs.S3FileSystem._call_s3
started, stored = [], []

async def dies_after_the_first_part(self, method, *args, **kwargs):
    if method == "upload_part":
        if started:  # the first part is in the store, the upload is not complete
            while not stored:
                await asyncio.sleep(0.01)
            os.kill(os.getpid(), signal.SIGKILL)
        started.append(1)
        out = await calls(self, method, *args, **kwargs)
        stored.append(1)
        return out
    return await calls(self, method, *args, **kwargs)

s3fs.S3FileSystem._call_s3 = dies_after_the_first_part
storage.write_bytes(sys.argv[1], b"n" * (101 * 2**20))  # above s3fs's one-PUT limit: multipart
"""


def test_a_writer_killed_mid_upload_leaves_the_last_whole_object_under_the_key(s3):
    uri = f"s3://{BUCKET}/pipeline/clean/latest.json"
    storage.write_bytes(uri, b'{"version": 1}')
    killed = subprocess.run([sys.executable, "-c", KILLED_UPLOAD, uri], cwd=PROJECT_ROOT, env=os.environ.copy(),
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    # The dead writer's upload is still open in the store (one part of it there), unpublished.
    uploads = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert [u["Key"] for u in uploads] == ["pipeline/clean/latest.json"]
    assert s3.list_parts(Bucket=BUCKET, Key=uploads[0]["Key"], UploadId=uploads[0]["UploadId"])["Parts"]
    assert storage.read_bytes(uri) == b'{"version": 1}'
    assert keys(s3) == ["pipeline/clean/latest.json"]


def test_an_upload_that_fails_midway_is_aborted_and_names_the_uri(s3, monkeypatch):
    """An error between the parts of an upload (not a kill): nothing is published, the upload is
    aborted, and the error names the URI after the retries."""
    import s3fs

    uri = f"s3://{BUCKET}/pipeline/clean/latest.json"
    storage.write_bytes(uri, b'{"version": 1}')
    calls = s3fs.S3FileSystem._call_s3

    async def the_second_part_fails(self, method, *args, **kwargs):
        if method == "upload_part" and kwargs.get("PartNumber") == 2:
            raise ConnectionError("connection reset by peer")
        return await calls(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", the_second_part_fails)
    monkeypatch.setattr(storage, "REMOTE_ATTEMPTS", 2)
    monkeypatch.setattr(storage, "REMOTE_WAIT_S", (0.1, 0.2))
    with pytest.raises(StorageError, match=f"cannot write {uri} \\(105,906,176 bytes\\)"):
        storage.write_bytes(uri, b"n" * (101 * 2**20))
    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", calls)
    assert storage.read_bytes(uri) == b'{"version": 1}'
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_windows_interrupted_before_their_manifest_are_not_seen_and_a_rerun_completes(s3, tmp_path, monkeypatch):
    settings = Settings(home=tmp_path, artifact_root=f"s3://{BUCKET}/pipeline", as_of=AS_OF, train_months=6,
                        families=("linear", "multivariate_rnn"))
    frame = steps.load_clean(steps.clean_snapshot(settings, *_raw(settings))["clean_uri"])
    specs = sorted({f.window_spec() for f in _families(settings)} - {None}, key=lambda s: s.name)
    assert len(specs) == 2
    write = storage.write_bytes
    written = []

    def fails_on_the_second_file(uri, data):
        if uri.endswith(".npz") and written:
            raise StorageError(f"cannot write {uri}: connection reset")
        written.append(uri)
        return write(uri, data)

    monkeypatch.setattr(storage, "write_bytes", fails_on_the_second_file)
    with pytest.raises(StorageError, match="connection reset"):
        windows.materialize(frame, specs, settings, "h", "clean")
    manifest_uri = storage.join(settings.artifact_root, "windows", windows.windows_key("h", settings),
                                "manifest.json")
    assert not storage.exists(manifest_uri)
    with pytest.raises(DataSourceError, match="does not exist"):
        storage.read_json(manifest_uri)

    monkeypatch.setattr(storage, "write_bytes", write)
    manifest = windows.materialize(frame, specs, settings, "h", "clean")
    assert set(storage.read_json(manifest_uri)["specs"]) == set(manifest["specs"]) == {s.name for s in specs}


def _raw(settings: Settings) -> tuple[str, str]:
    checked = steps.validate_source(settings)
    return checked["raw_uri"], checked["data_hash"]


def test_a_store_away_for_a_moment_is_retried_with_a_log_line(monkeypatch, caplog):
    import boto3

    port = free_port()
    use_endpoint(monkeypatch, f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries aside: ours are under test
    before, _ = start_s3(port)
    boto3.client("s3").create_bucket(Bucket=BUCKET)  # the store keeps its buckets across the outage
    before.stop()
    started = {}

    def comes_back():
        time.sleep(3.5)  # longer than s3fs's own quiet retries of a refused connection (about 2 s)
        started["server"] = start_s3(port)[0]

    back = threading.Thread(target=comes_back)
    back.start()
    try:
        with caplog.at_level(logging.WARNING, logger="pipeline.io.storage"):
            storage.write_bytes(f"s3://{BUCKET}/pipeline/raw/a.csv", b"a,b\n")
        back.join()
        assert storage.read_bytes(f"s3://{BUCKET}/pipeline/raw/a.csv") == b"a,b\n"
        assert any(r.getMessage().startswith(f"retrying to write s3://{BUCKET}/pipeline/raw/a.csv (attempt 2 of")
                   for r in caplog.records), [r.getMessage() for r in caplog.records]
    finally:
        back.join()
        if "server" in started:
            started["server"].stop()


def test_a_store_that_stays_away_fails_with_the_uri_named(monkeypatch):
    use_endpoint(monkeypatch, f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setattr(storage, "REMOTE_ATTEMPTS", 2)
    monkeypatch.setattr(storage, "REMOTE_WAIT_S", (0.1, 0.2))
    uri = f"s3://{BUCKET}/pipeline/windows/k/linear.npz"
    with pytest.raises(StorageError, match=f"cannot write {uri} \\(4 bytes\\)"):
        storage.write_bytes(uri, b"abcd")
    with pytest.raises(DataSourceError, match=f"cannot read {uri}"):
        storage.read_bytes(uri)
    with pytest.raises(StorageError, match=f"cannot reach {uri}"):
        storage.exists(uri)
