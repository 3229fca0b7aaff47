"""Where an input's outputs go: keys derived from the input key alone.

    incoming/<name>  ->  scored/<name>.predictions.parquet   (or .predictions.csv)
                         scored/<name>.summary.json
                         errors/<name>.error.json

`<name>` is the whole key under INPUT_PREFIX, extension included, so `x.parquet`, `x.csv`
and `x.csv.gz` never share an output, and a retry overwrites rather than adds. A key that
would pass S3's 1,024-byte limit keeps as much of `<name>` as fits, cut at a character,
then `~` and 16 hex digits of the SHA-256 of the whole `<name>`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from lambda_function.s3 import MAX_KEY_BYTES
from lambda_function.settings import Settings

HASH_CHARS = 16


@dataclass(frozen=True)
class OutputKeys:
    predictions: str
    summary: str
    error: str


def output_keys(key: str, settings: Settings) -> OutputKeys:
    name = key.removeprefix(settings.input_prefix)
    return OutputKeys(
        predictions=fitted_key(settings.output_prefix, name, f".predictions.{settings.output_format}"),
        summary=fitted_key(settings.output_prefix, name, ".summary.json"),
        error=fitted_key(settings.error_prefix, name, ".error.json"),
    )


def fitted_key(prefix: str, name: str, suffix: str) -> str:
    """`prefix + name + suffix`, shortened (see the module's docstring) if S3 would refuse it."""
    key = f"{prefix}{name}{suffix}"
    if len(key.encode()) <= MAX_KEY_BYTES:
        return key
    digest = hashlib.sha256(name.encode()).hexdigest()[:HASH_CHARS]
    room = MAX_KEY_BYTES - len(f"{prefix}~{digest}{suffix}".encode())
    kept = name.encode()[:room].decode("utf-8", errors="ignore")  # drops a character cut in two
    return f"{prefix}{kept}~{digest}{suffix}"
