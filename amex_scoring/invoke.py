"""Call a Lambda handler with an event the way the Python runtime does, without Docker.

The handler is imported by the same dotted path the image's CMD names, with a context
object that has the runtime's attributes and a real deadline.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

HANDLERS = {"api": "lambda_function.handlers.api.handler", "batch": "lambda_function.handlers.batch.handler"}


class LambdaContext:
    """The attributes and method of the runtime's context object that handlers use."""

    def __init__(self, function: str, timeout_seconds: float, memory_mb: int = 2048) -> None:
        self.function_name = f"amex-scoring-{function}"
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def function_for(event: dict[str, Any]) -> str:
    """`batch` for S3 / EventBridge object events (also through SQS or SNS), `api` for HTTP events."""
    records = event.get("Records") or []
    sources = {record.get("eventSource") or record.get("EventSource") for record in records}
    if sources & {"aws:s3", "aws:sqs", "aws:sns"} or event.get("detail-type") == "Object Created":
        return "batch"
    if "requestContext" in event or "httpMethod" in event or "rawPath" in event:
        return "api"
    raise ValueError("cannot tell the function from the event: pass --function api or --function batch")


def load_handler(function: str) -> Any:
    """Import the function's module as the runtime does (its model loads, or the start fails);
    its log lines go to stderr, as stdout is the result."""
    module, _, name = HANDLERS[function].rpartition(".")
    with contextlib.redirect_stdout(sys.stderr):
        return getattr(importlib.import_module(module), name)


def invoke(event: dict[str, Any], function: str | None = None, timeout_seconds: float | None = None) -> Any:
    function = function or function_for(event)
    default_timeout = 900.0 if function == "batch" else 30.0
    timeout = timeout_seconds or float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", default_timeout))
    # In Lambda, logs and EMF metrics go to stdout for CloudWatch; here stdout is the result.
    with contextlib.redirect_stdout(sys.stderr):
        return load_handler(function)(event, LambdaContext(function, timeout))


def with_local_s3(
    event: dict[str, Any], data: Path, call: Callable[[], Any], download: Path | None = None
) -> dict[str, Any]:
    """Runs `call` against a local S3 server holding `data` at each object the event names; with
    `download`, keeps what the handler wrote there (DIR/<bucket>/<key>) before the server goes."""
    from lambda_function.batch.events import objects_in
    from lambda_function.s3 import s3_client

    from .local_s3 import start_s3_server

    saved = dict(os.environ)
    server, endpoint = start_s3_server()
    s3_client.cache_clear()
    try:
        s3 = s3_client()
        for obj in objects_in(event):
            if obj.bucket not in {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}:
                s3.create_bucket(Bucket=obj.bucket)
            s3.put_object(Bucket=obj.bucket, Key=obj.key, Body=data.read_bytes())
        result = call()
        buckets = {obj.bucket for obj in objects_in(event)}
        listed = {
            name: [item["Key"] for item in s3.list_objects_v2(Bucket=name).get("Contents", [])] for name in buckets
        }
        inputs = {(obj.bucket, obj.key) for obj in objects_in(event)}
        written = [(bucket, key) for bucket, keys in listed.items() for key in keys if (bucket, key) not in inputs]
        kept = _download(s3, written, download) if download is not None else []
        return {"local_s3": endpoint, "result": result, "objects": listed, **({"downloaded": kept} if kept else {})}
    finally:
        server.stop()  # type: ignore[attr-defined]
        os.environ.clear()
        os.environ.update(saved)  # the endpoint and credentials were this call's alone
        s3_client.cache_clear()


def _download(s3: Any, objects: list[tuple[str, str]], folder: Path) -> list[str]:
    """Each object to folder/<bucket>/<key>; a key that would land outside the folder (`..`, an
    absolute part) is refused rather than followed."""
    root = folder.resolve()
    kept = []
    for bucket, key in objects:
        target = (root / bucket / key).resolve()
        if not target.is_relative_to(root / bucket) or key.endswith("/"):
            raise ValueError(f"s3://{bucket}/{key}: not a key that can be kept as a file under {folder}")
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
        kept.append(str(target))
    return kept
