"""Every setting the functions read from the environment, in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The image bakes the model next to the package: /var/task/model.
DEFAULT_MODEL_URI = str(Path(__file__).resolve().parent.parent / "model")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None


def _optional_float(name: str) -> float | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be a number, got {raw!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"environment variable {name} must be between 0 and 1, got {raw!r}")
    return value


def _prefix(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip() or default
    return value if value.endswith("/") else value + "/"


@dataclass(frozen=True)
class Settings:
    model_uri: str
    model_cache_dir: str
    decision_threshold: float | None
    max_batch: int
    max_body_bytes: int
    input_prefix: str
    output_prefix: str
    error_prefix: str
    output_bucket: str | None
    output_format: str
    min_remaining_ms: int

    @classmethod
    def from_env(cls) -> Settings:
        output_format = os.environ.get("OUTPUT_FORMAT", "parquet").strip().lower() or "parquet"
        if output_format not in ("parquet", "csv"):
            raise ValueError(f"OUTPUT_FORMAT must be 'parquet' or 'csv', got {output_format!r}")
        return cls(
            model_uri=os.environ.get("MODEL_URI", "").strip() or DEFAULT_MODEL_URI,
            model_cache_dir=os.environ.get("MODEL_CACHE_DIR", "").strip() or "/tmp/model-cache",
            decision_threshold=_optional_float("DECISION_THRESHOLD"),
            max_batch=_int("MAX_BATCH", 1000),
            max_body_bytes=_int("MAX_BODY_BYTES", 6 * 1024 * 1024),
            input_prefix=_prefix("INPUT_PREFIX", "incoming/"),
            output_prefix=_prefix("OUTPUT_PREFIX", "scored/"),
            error_prefix=_prefix("ERROR_PREFIX", "errors/"),
            output_bucket=os.environ.get("OUTPUT_BUCKET", "").strip() or None,
            output_format=output_format,
            min_remaining_ms=_int("MIN_REMAINING_MS", 15_000),
        )
