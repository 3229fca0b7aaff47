"""Helpers shared by the tests: S3 objects on the moto server, batch invocations, a racing proxy."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import http.server
import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from amex_scoring.events import s3_put
from amex_scoring.invoke import LambdaContext
from lambda_function.s3 import s3_client

ROOT = Path(__file__).resolve().parent.parent


def _fixture_key() -> str:
    """The code that makes the synthetic model: a change to it makes the fixture anew."""
    sources = sorted([*(ROOT / "amex_scoring").glob("*.py"), *(ROOT / "lambda_function" / "core").glob("*.py")])
    return hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:16]


# The suite's own model, whatever `model/` holds (a user's import, a fresh training): the
# synthetic recipe (amex_scoring/synthetic_model.py), built once per code version by conftest.py.
# Training is reproducible, so the exact probabilities the tests pin hold for it.
SYNTHETIC_MODEL = ROOT / ".venv" / "test-models" / f"synthetic-{_fixture_key()}"
EVENTS = ROOT / "events"
LEGACY = Path(os.environ.get("LEGACY_ARTIFACTS_DIR", ROOT.parent / "shared" / "legacy-artifacts"))
LEGACY_FILES = {
    "vectorizer": "dict_vectorizer.pkl",
    "imputer": "imputer.pkl",
    "model": "XGBoost_2023-11-05_14-54-16.bin",
}
# The reference probabilities of the original service (legacy-artifacts/README.md).
GOOD_CUSTOMER_PROBABILITY = 0.01797023
BAD_CUSTOMER_PROBABILITY = 0.80989313


def upload(bucket: str, key: str, data: bytes | Path) -> dict[str, Any]:
    body = data.read_bytes() if isinstance(data, Path) else data
    return dict(s3_client().put_object(Bucket=bucket, Key=key, Body=body))


def get(bucket: str, key: str) -> bytes:
    return bytes(s3_client().get_object(Bucket=bucket, Key=key)["Body"].read())


def keys_in(bucket: str) -> list[str]:
    return sorted(item["Key"] for item in s3_client().list_objects_v2(Bucket=bucket).get("Contents", []))


def parquet_bytes(table: pa.Table, row_group_size: int | None = None) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=row_group_size)
    return sink.getvalue()


def invoke(bucket: str, key: str, seconds: float = 900, version_id: str | None = None) -> dict[str, Any]:
    """The batch handler, as Lambda calls it for an S3 event (imported here: it loads the model)."""
    from serving import batch

    [result] = batch.handler(s3_put(key, bucket=bucket, version_id=version_id), LambdaContext("batch", seconds))[
        "results"
    ]
    return dict(result)


def invoke_with(loaded: Any, bucket: str, key: str) -> tuple[dict[str, Any], str]:
    """The batch function built for `loaded` (a model and settings) on one S3 event: its result
    and what it printed (its logs and EMF metric lines, which Lambda sends to CloudWatch)."""
    from lambda_function.batch.scorer import batch_handler

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        [result] = batch_handler(loaded)(s3_put(key, bucket=bucket), LambdaContext("batch", 900))["results"]
    return dict(result), printed.getvalue()


def predictions(bucket: str, key: str) -> dict[str, float]:
    table = pq.read_table(io.BytesIO(get(bucket, key)))
    return dict(zip(table["customer_ID"].to_pylist(), table["prediction"].to_pylist(), strict=True))


class _Forward(http.server.BaseHTTPRequestHandler):
    """Forwards every request to the S3 server; runs `before_first_read` before the first ranged GET."""

    upstream: tuple[str, int]
    hooks: list[Callable[[], None]]  # run once, then gone

    def _forward(self) -> None:
        if self.command == "GET" and "Range" in self.headers and self.hooks:
            self.hooks.pop()()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        headers = {name: value for name, value in self.headers.items() if name.lower() != "host"}
        connection.request(self.command, self.path, body=body, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", answer.getheader("Content-Length") or str(len(data)))  # a HEAD's too
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        connection.close()

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _forward

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def _hooked_s3(endpoint: str, hooks: list[Callable[[], None]]) -> Iterator[str]:
    """An S3 endpoint that is `endpoint`, except that each ranged GET first runs the next hook."""
    parts = urlsplit(endpoint)
    handler = type("Hooked", (_Forward,), {"upstream": (parts.hostname, parts.port), "hooks": hooks})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def racing_s3(endpoint: str, before_first_read: Callable[[], None]) -> AbstractContextManager[str]:
    """`before_first_read` runs just before the first ranged GET reaches `endpoint`: after the
    function's HEAD, before it reads any byte."""
    return _hooked_s3(endpoint, [before_first_read])


def slow_s3(endpoint: str, seconds: float) -> AbstractContextManager[str]:
    """Every ranged GET (of the first 1,000) waits `seconds` first: a file that cannot be read in
    the time a test gives it."""
    return _hooked_s3(endpoint, [lambda: time.sleep(seconds)] * 1000)


def upload_model_as(bucket: str, prefix: str, version: str, folder: Path) -> str:
    """The committed model under another version name, written to `folder` and uploaded under
    `prefix`: a model that can only be the one from S3. Returns its s3:// URI."""
    from lambda_function.core.artifacts import load_artifacts, write_model_directory

    artifacts = load_artifacts(SYNTHETIC_MODEL)
    header = {k: v for k, v in artifacts.manifest.items() if k not in ("files", "format_version")}
    header["version"] = version
    written = write_model_directory(
        folder, header, artifacts.preprocessing, artifacts.booster_bytes, artifacts.reference, artifacts.golden
    )
    for path in written.iterdir():
        upload(bucket, prefix + path.name, path)
    return f"s3://{bucket}/{prefix}"


def remove_bucket(bucket: str) -> None:
    """Every object (and version) of a bucket, then the bucket: moto's backends are one per
    process, shared by every server in it, so a named bucket left behind is another test's."""
    s3 = s3_client()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
    s3.delete_bucket(Bucket=bucket)


@contextmanager
def served(model: Path, environment: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """`amex-scoring serve` (uvicorn, a real socket) in a process of its own, once it answers
    ready: its base URL and its process id. Stopped after."""
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "amex_scoring.cli", "serve", "--port", str(port), "--model", str(model)]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(environment or {})}
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                assert process.poll() is None, "serve exited before it was ready"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)
