"""The one S3 client both handlers use.

boto3 reads the endpoint from AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) itself, so the
same code talks to AWS, moto's server, MinIO or LocalStack.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlparse


@functools.lru_cache(maxsize=1)
def s3_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5}))


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> (`bucket`, `some/prefix`)."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")
