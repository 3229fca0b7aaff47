"""A dataset job's Map step: score one shard, through the same functions as the batch function.

Writes, in this order, each in one PUT and under a name fixed by the shard's index, so a
retried or redriven shard overwrites its own outputs and never adds to them:
- `part-NNNNN.parquet`: the predictions (the batch function's columns);
- `_work/ids/NNNNN.u64`: the sorted fingerprints of its customer IDs, for the reduce step's
  check that no customer is in two parts;
- `_work/shards/NNNNN.json`: its mergeable summary, last: its presence says the shard is done.
A file the shard cannot score (corrupt, wrong columns, rows not grouped by customer where it
had to be split) gets a summary with the reason instead, and no part.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pyarrow as pa

from lambda_function.core.schema import CUSTOMER_ID
from lambda_function.core.scoring import Model
from lambda_function.core.summaries import score_histogram
from lambda_function.dataset.plan import Shard, fingerprints_uri, part_name, part_uri, summary_uri
from lambda_function.files import storage
from lambda_function.files.file_scoring import ScoredFile, score_statements
from lambda_function.files.predictions import encode_predictions
from lambda_function.files.row_ranges import RowGroupRange
from lambda_function.files.statements import InputError
from lambda_function.monitoring.capture import FileCapture, object_uri
from lambda_function.s3 import split_s3_uri


def score_shard(model: Model, shard: Shard, output: str, capture_uri: str | None = None) -> dict[str, Any]:
    """Score the shard and write its outputs (and its capture records to `capture_uri`); returns its summary."""
    part = RowGroupRange(*shard.row_groups) if shard.row_groups is not None else None
    capture = FileCapture(model, "dataset", _input_uri(shard), capture_uri) if capture_uri else None
    try:
        if shard.footer_error is not None:
            raise InputError(shard.footer_error)
        opened = shard.stored.opener(shard.format)
        scored = score_statements(model, opened, shard.format, part=part, capture=capture)
        if part is not None and part.runs != _customers(scored):
            raise InputError(
                "rows are not grouped by customer_ID: a file large enough to be split must keep each customer's "
                "statements together (sorted by customer_ID, as Kaggle's files are)"
            )
    except InputError as error:
        return _write_summary(shard, output, _unscored(shard, str(error)))
    part_bytes = encode_predictions(scored, model, "parquet")
    etag = storage.write_bytes(part_uri(output, shard.index), part_bytes)
    fingerprints = np.sort(id_fingerprints(scored.predictions[CUSTOMER_ID].combine_chunks()))
    storage.write_bytes(fingerprints_uri(output, shard.index), fingerprints.astype("<u8").tobytes())
    summary = _summary(model, shard, scored, part, part_bytes, etag)
    if capture is not None:  # after the part: a capture that fails never costs the scores
        summary["capture"] = capture.write(scored)
    return _write_summary(shard, output, summary)


def _input_uri(shard: Shard) -> str:
    """The shard's input file, with its version, for the capture records' `request_id`."""
    stored = shard.stored
    if not storage.is_s3(stored.uri):
        return stored.uri
    bucket, key = split_s3_uri(stored.uri)
    return object_uri(bucket, key, stored.version_id)


def _customers(scored: ScoredFile) -> int:
    return scored.customers + sum(scored.skipped.values())


def _summary(
    model: Model, shard: Shard, scored: ScoredFile, part: RowGroupRange | None, part_bytes: bytes, etag: str
) -> dict[str, Any]:
    scores = scored.drift_inputs["score"]
    reference = model.artifacts.reference if model.artifacts else None
    owned = part.owned() if part is not None else (0, scored.rows_read)
    return {
        "shard": shard.index,
        "plan": shard.plan,
        "status": "scored",
        "input": shard.file,
        "row_groups": shard.row_groups,
        "rows_read": scored.rows_read,
        "owned_rows": list(owned),
        "head_rows": part.head_rows if part is not None else 0,
        "read_ahead_rows": part.read_ahead_rows if part is not None else 0,
        "customers": _customers(scored),
        "customers_scored": scored.customers,
        "customers_skipped": scored.skipped,
        "unseen_categories": scored.unseen,
        "defaults": int(np.count_nonzero(scored.predictions["default"].to_numpy())),
        "score_histogram": score_histogram(scores),
        "drift_counts": scored.reference_counts(reference) if reference is not None else None,
        "part": {
            "name": part_name(shard.index),
            "customers": scored.customers,
            "bytes": len(part_bytes),
            "sha256": hashlib.sha256(part_bytes).hexdigest(),
            "etag": etag,  # S3's, of this very PUT: reduce checks the part is still it without reading it
        },
    }


def _unscored(shard: Shard, message: str) -> dict[str, Any]:
    return {
        "shard": shard.index,
        "plan": shard.plan,
        "status": "invalid_input",
        "input": shard.file,
        "message": message,
    }


def _write_summary(shard: Shard, output: str, summary: dict[str, Any]) -> dict[str, Any]:
    if summary["status"] != "scored":  # a rerun after the input was replaced: no stale part
        storage.delete(part_uri(output, shard.index))
        storage.delete(fingerprints_uri(output, shard.index))
    # Compact: json's C encoder; with `indent` it is pure Python, a visible share of a shard.
    data = json.dumps(summary, separators=(",", ":"), allow_nan=False).encode()
    storage.write_bytes(summary_uri(output, shard.index), data, "application/json")
    return summary


# -- customer fingerprints --------------------------------------------------------------

_GOLDEN = 0x9E3779B97F4A7C15


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, vectorised (uint64 arithmetic wraps, as the hash wants)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    mixed: np.ndarray = x ^ (x >> np.uint64(31))
    return mixed


def id_fingerprints(ids: pa.Array) -> np.ndarray:
    """A 64-bit fingerprint of each ID: equal IDs always get equal fingerprints.

    A filter for the reduce step: equal fingerprints in two parts are confirmed on the IDs
    themselves, so a collision can cost a read, never a wrong answer. Computed on Arrow's
    buffers, eight bytes at a time, IDs of one length together.
    """
    binary = ids.cast(pa.large_binary())
    offsets = np.frombuffer(binary.buffers()[1], dtype=np.int64)[binary.offset : binary.offset + len(binary) + 1]
    data = np.frombuffer(binary.buffers()[2] or b"", dtype=np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    if lengths.size and (lengths == lengths[0]).all():  # one length, as AmEx's 64-character IDs
        length = int(lengths[0])
        return _hashed(data[starts[0] : starts[0] + length * lengths.size].reshape(lengths.size, length), length)
    out = np.empty(len(binary), dtype=np.uint64)
    for length in np.unique(lengths).tolist():
        found = np.flatnonzero(lengths == length)
        for chunk in np.array_split(found, max(1, found.size * max(length, 1) // (4 << 20))):
            out[chunk] = _hashed(data[starts[chunk, None] + np.arange(length)], length)
    return out


def _hashed(rows: np.ndarray, length: int) -> np.ndarray:
    """The fingerprints of IDs of one length, one row of bytes each, zero-padded to whole words."""
    words = -(-length // 8)
    if rows.shape[1] != words * 8 or not rows.flags.c_contiguous:
        padded = np.zeros((rows.shape[0], words * 8), dtype=np.uint8)
        padded[:, :length] = rows
        rows = padded
    hashed = np.full(rows.shape[0], ((length + 1) * _GOLDEN) % 2**64, dtype=np.uint64)
    for word in rows.view("<u8").T:
        hashed = _mix(hashed ^ word)
    return hashed
