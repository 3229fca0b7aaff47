"""S3 access for both handlers: one client, and objects read exactly as an event names them.

boto3 reads the endpoint from AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) itself, so the
same code talks to AWS, moto's server, MinIO or LocalStack.

An input is read through boto3, not a filesystem: S3 keys are not paths, so
`incoming/a/../b.parquet` must read that very object, which a path-normalising filesystem
does not. Every read of one invocation is pinned to the version its HEAD saw (VersionId
in a versioned bucket, If-Match on the ETag otherwise), so an object replaced while it is
being read cannot mix two versions into one score.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

MAX_KEY_BYTES = 1024  # S3 refuses longer keys


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


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_missing(error: ClientError) -> bool:
    return error_code(error) in ("404", "NoSuchKey", "NotFound", "NoSuchVersion")


class SourceChanged(Exception):
    """The object was replaced or deleted while it was being read: retry to score what is there now."""


@dataclass(frozen=True)
class PinnedObject:
    """One version of one object, as a HEAD saw it; every read asks for exactly that version."""

    bucket: str
    key: str
    size: int
    etag: str
    version_id: str | None

    @classmethod
    def head(cls, bucket: str, key: str, version_id: str | None = None) -> PinnedObject:
        """Raises ClientError; `is_missing` tells a missing object (or version) from S3 trouble."""
        request: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            request["VersionId"] = version_id
        head = s3_client().head_object(**request)
        version = head.get("VersionId")
        return cls(
            bucket=bucket,
            key=key,
            size=int(head["ContentLength"]),
            etag=str(head.get("ETag", "")).strip('"'),
            version_id=None if version in (None, "", "null") else str(version),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "etag": self.etag,
            "version_id": self.version_id,
            "size": self.size,
        }

    def get(self, byte_range: str | None = None) -> Any:
        """GetObject of this version: its streaming body. SourceChanged if that version is gone."""
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key}
        if self.version_id:
            request["VersionId"] = self.version_id
        else:  # an unversioned bucket: refuse any other content under the key
            request["IfMatch"] = f'"{self.etag}"'
        if byte_range:
            request["Range"] = byte_range
        try:
            return s3_client().get_object(**request)["Body"]
        except ClientError as error:
            if is_missing(error) or error_code(error) in ("412", "PreconditionFailed"):
                raise SourceChanged(
                    f"s3://{self.bucket}/{self.key} changed while it was read (ETag {self.etag} is gone); "
                    "a retry scores what is there now"
                ) from error
            raise

    def open_random_access(self) -> RangedReader:
        return RangedReader(self)

    def open_stream(self) -> Any:
        return self.get()


class RangedReader(io.RawIOBase):
    """A seekable file over ranged GETs of one pinned object: pyarrow reads a Parquet footer and
    only the column chunks it needs through it."""

    def __init__(self, source: PinnedObject) -> None:
        super().__init__()
        self.source, self.position = source, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.source.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def read(self, size: int = -1) -> bytes:
        end = self.source.size if size is None or size < 0 else min(self.source.size, self.position + size)
        if end <= self.position:
            return b""
        data = self.source.get(f"bytes={self.position}-{end - 1}").read()
        if len(data) != end - self.position:
            raise SourceChanged(f"s3://{self.source.bucket}/{self.source.key}: a ranged read came back short")
        self.position = end
        return bytes(data)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
