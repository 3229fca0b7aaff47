"""Every setting the functions read from the environment, with its default, in one place.

Each field is read from the environment variable of its name in capitals (`max_batch` from
MAX_BATCH); an unset or blank variable leaves the default. Nothing else in the package reads
the environment or knows a default.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

# The image bakes the model next to the package: /var/task/model.
DEFAULT_MODEL_URI = str(Path(__file__).resolve().parent.parent / "model")
MAX_PREFIX_BYTES = 512  # leaves room under S3's 1,024-byte key limit for the outputs' names
OUTPUT_FORMATS = ("parquet", "csv")
CAPTURE_INPUTS = ("all", "used", "none")


@dataclass(frozen=True)
class Settings:
    model_uri: str = DEFAULT_MODEL_URI  # a model directory, or s3://bucket/prefix/
    model_cache_dir: str = "/tmp/model-cache"  # where an S3 model is downloaded
    decision_threshold: float | None = None  # None: the model's own threshold
    max_batch: int = 1000  # customers per HTTP request
    max_body_bytes: int = 6_000_000  # under Lambda's 6 MB payload limit, with room for the event around it
    input_prefix: str = "incoming/"
    output_prefix: str = "scored/"
    error_prefix: str = "errors/"
    check_prefix: str = "deploy-checks/"  # the pre-traffic hook's golden files: scored, not watched by the trigger
    output_bucket: str | None = None  # None: the input's bucket
    output_format: str = "parquet"  # or csv, Kaggle's submission format
    min_remaining_ms: int = 20_000  # stop and report when less time than this is left
    # Dataset jobs: statement rows per shard. At most as many customers as rows, and memory
    # grows with customers: 2 M fits a 4 GB function with room to spare (docs/scaling.md).
    shard_rows: int = 2_000_000
    tolerated_failure_percentage: float = 0.0  # shards that may fail before the job does
    max_concurrency: int = 1000  # shards scored at once (Distributed Map's limit: 10,000)
    # Capture (monitoring/capture.py): a folder, an s3:// prefix, or firehose:STREAM; None: off.
    capture_uri: str | None = None
    capture_inputs: str = "all"  # all, used (leaves out the values as received), or none
    capture_sample_rate: float = 1.0  # the share of HTTP requests captured, whole
    monitoring_uri: str | None = None  # where the monitor job writes its reports (s3:// or a folder)
    max_outcome_drop: float = 0.05  # AUC, Gini or the competition metric this far below training's: flagged

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Raises ValueError naming the variable when one cannot be read."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            variable = field.name.upper()
            raw = env.get(variable, "").strip()
            if raw:
                values[field.name] = _PARSERS.get(field.name, _text)(variable, raw)
        return cls(**values)


def _text(_variable: str, raw: str) -> str:
    return raw


def _integer(variable: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {variable} must be an integer, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"environment variable {variable} must not be negative, got {raw!r}")
    return value


def _positive(variable: str, raw: str) -> int:
    """An integer of at least 1: a limit of 0 would refuse every request or plan no shard."""
    value = _integer(variable, raw)
    if value < 1:
        raise ValueError(f"environment variable {variable} must be at least 1, got {raw!r}")
    return value


def _number_up_to(high: float) -> Callable[[str, str], float]:
    """A parser of numbers from 0 to `high`."""

    def parse(variable: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"environment variable {variable} must be a number, got {raw!r}") from None
        if not 0.0 <= value <= high:
            raise ValueError(f"environment variable {variable} must be from 0 to {high:g}, got {raw!r}")
        return value

    return parse


_probability, _percentage = _number_up_to(1.0), _number_up_to(100.0)


def _prefix(variable: str, raw: str) -> str:
    value = raw if raw.endswith("/") else raw + "/"
    if len(value.encode()) > MAX_PREFIX_BYTES:
        raise ValueError(f"environment variable {variable} must be at most {MAX_PREFIX_BYTES} bytes")
    return value


def _one_of(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    """A parser of one of `choices`, in any case."""

    def parse(variable: str, raw: str) -> str:
        value = raw.lower()
        if value not in choices:
            allowed = " or ".join(repr(choice) for choice in choices)
            raise ValueError(f"environment variable {variable} must be {allowed}, got {raw!r}")
        return value

    return parse


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "decision_threshold": _probability,
    "max_batch": _positive,
    "max_body_bytes": _positive,
    "min_remaining_ms": _integer,
    "shard_rows": _positive,
    "max_concurrency": _positive,
    "tolerated_failure_percentage": _percentage,
    "input_prefix": _prefix,
    "output_prefix": _prefix,
    "error_prefix": _prefix,
    "check_prefix": _prefix,
    "output_format": _one_of(OUTPUT_FORMATS),
    "capture_inputs": _one_of(CAPTURE_INPUTS),
    "capture_sample_rate": _probability,
    "max_outcome_drop": _probability,
}
