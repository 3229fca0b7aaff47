"""Where a dataset job reads and writes: `s3://bucket/prefix/` URIs, or local folders.

The plan, shard and reduce steps use only these functions, so the Step Functions job and
the CLI's local mode (`amex-scoring score-dataset`) run the same code. S3 reads are pinned
to the ETag (or version) the listing saw, as the batch function's are (s3.py).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import ClientError

from lambda_function.files.statements import Opener, local_opener
from lambda_function.s3 import PinnedObject, is_missing, s3_client, split_s3_uri


@dataclass(frozen=True)
class StoredFile:
    uri: str
    size: int
    etag: str = ""  # S3's; empty for a local file
    version_id: str | None = None

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    def opener(self, fmt: str) -> Opener:
        """Parquet is read at random (footer, then the needed column chunks); CSV as one stream."""
        if not is_s3(self.uri):
            return local_opener(self.uri)
        bucket, key = split_s3_uri(self.uri)
        pinned = PinnedObject(bucket, key, self.size, self.etag, self.version_id)
        return pinned.open_random_access if fmt == "parquet" else pinned.open_stream


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


# Folders and files that Spark, Hive and Hadoop mark as not data: their staging copies
# (`_temporary/`, `.spark-staging-*`, `.hive-staging*`), markers (`_SUCCESS`) and checksums
# (`.crc`) start with `_` or `.`, at any depth, as Hadoop's own input filter reads them; so does
# a file this module is still writing (write_local_file).
HIDDEN_START = ("_", ".")


def is_hidden(relative: str) -> bool:
    """A path below a folder or prefix that is not data: a part of it starts with `_` or `.`."""
    return any(part.startswith(HIDDEN_START) for part in PurePosixPath(relative).parts)


def join(prefix: str, name: str) -> str:
    return prefix.rstrip("/") + "/" + name


def list_files(prefix: str) -> list[StoredFile]:
    """Every file under a prefix (S3) or folder (local), in key order."""
    if not is_s3(prefix):
        root = Path(prefix)
        if not root.is_dir():
            raise FileNotFoundError(f"{prefix} is not a folder")
        paths = sorted(path for path in root.rglob("*") if path.is_file())
        return [StoredFile(str(path), path.stat().st_size) for path in paths]
    bucket, key_prefix = split_s3_uri(prefix)
    found = []
    for page in s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix):
        for item in page.get("Contents", []):
            if not item["Key"].endswith("/"):
                uri = f"s3://{bucket}/{item['Key']}"
                found.append(StoredFile(uri, int(item["Size"]), str(item.get("ETag", "")).strip('"')))
    return found


def exists(prefix: str) -> bool:
    """A local folder that exists; on S3, always (a prefix is just keys)."""
    return is_s3(prefix) or Path(prefix).is_dir()


def stat(uri: str) -> StoredFile:
    """One named file, as `list_files` would describe it. FileNotFoundError if it is not there."""
    if not is_s3(uri):
        path = Path(uri)
        if not path.is_file():
            raise FileNotFoundError(f"{uri} does not exist")
        return StoredFile(uri, path.stat().st_size)
    bucket, key = split_s3_uri(uri)
    try:
        pinned = PinnedObject.head(bucket, key)
    except ClientError as error:
        if is_missing(error):
            raise FileNotFoundError(f"{uri} does not exist") from None
        raise
    return StoredFile(uri, pinned.size, pinned.etag, pinned.version_id)


def read_bytes(uri: str) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    if not is_s3(uri):
        path = Path(uri)
        return path.read_bytes() if path.is_file() else None
    bucket, key = split_s3_uri(uri)
    try:
        return bytes(s3_client().get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as error:
        if is_missing(error):
            return None
        raise


def write_bytes(uri: str, data: bytes, content_type: str = "application/octet-stream") -> str:
    """One PUT on S3; locally, a temporary file renamed into place: never half a file.
    Returns S3's ETag of what was written (empty for a local file)."""
    if is_s3(uri):
        bucket, key = split_s3_uri(uri)
        written = s3_client().put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        return str(written.get("ETag", "")).strip('"')
    Path(uri).parent.mkdir(parents=True, exist_ok=True)  # a job's output is a tree of its own
    write_local_file(Path(uri), data)
    return ""


def write_local_file(path: Path, data: bytes) -> None:
    """Write next to the target, then rename: a reader never sees a partial file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's 0600, made what open() would have made
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def delete(uri: str) -> None:
    """Remove the file if it is there."""
    if is_s3(uri):
        bucket, key = split_s3_uri(uri)
        s3_client().delete_object(Bucket=bucket, Key=key)
    else:
        Path(uri).unlink(missing_ok=True)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
