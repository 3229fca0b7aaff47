"""A dataset job's last step: check the shards' work, merge their summaries, mark it done.

Writes `_SUMMARY.json` (the merged summary, with what went wrong), then `_SUCCESS` (a
manifest of every part with its customers and SHA-256) only when every shard scored its
rows, every input row was read by exactly one shard and no customer is in two parts.
Otherwise it removes any `_SUCCESS` of an earlier run and raises JobFailed, which fails the
execution. Nothing written depends on the time, so a rerun writes the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from lambda_function.core.drift import record_drift_metrics, summary_drift
from lambda_function.core.schema import CUSTOMER_ID
from lambda_function.core.scoring import Model
from lambda_function.core.summaries import QUANTILE_PRECISION, merge_histograms, quantiles_from_histogram
from lambda_function.dataset.plan import Shard, fingerprints_uri, part_uri, read_shards, summary_uri
from lambda_function.dataset.shard import id_fingerprints
from lambda_function.files import storage

READERS = 32  # summaries and fingerprint files read at once
SHOWN = 5  # examples given of each problem


class JobFailed(RuntimeError):
    """The job did not score its whole input exactly once: _SUMMARY.json says why."""


def reduce_job(model: Model, output: str) -> dict[str, Any]:
    """Merge, check and mark the job done; raises JobFailed after writing the summary if it is not."""
    shards = read_shards(output)
    with ThreadPoolExecutor(READERS) as pool:
        found = list(pool.map(lambda s: storage.read_bytes(summary_uri(output, s.index)), shards))
    summaries = {}
    for shard, data in zip(shards, found, strict=True):
        summary = json.loads(data) if data is not None else None
        if summary is not None and summary.get("plan") == shard.plan:  # not an earlier plan's
            summaries[shard.index] = summary
    problems: dict[str, Any] = {}
    unfinished = [shard for shard in shards if shard.index not in summaries]
    if unfinished:
        problems["shards_not_finished"] = _unfinished(unfinished)
    not_scored = _files_not_scored(summaries)
    scored = [s for s in summaries.values() if s["status"] == "scored" and s["input"]["uri"] not in not_scored]
    found_twice = duplicate_customers(output, scored)
    not_scored.update(_ungrouped_files(found_twice, scored))
    scored = [s for s in scored if s["input"]["uri"] not in not_scored]
    if not_scored:
        problems["files_not_scored"] = not_scored
    for summary in summaries.values():  # a file is scored whole, or not at all
        if summary["status"] == "scored" and summary["input"]["uri"] in not_scored:
            storage.delete(storage.join(output, summary["part"]["name"]))
    if not unfinished:
        misread = _rows_not_read_once(shards, scored)
        if misread:
            problems["rows_not_read_once"] = misread
    twice = _still_twice(found_twice, scored)
    if twice["count"]:
        problems["customers_in_two_parts"] = twice
    changed = parts_not_as_written(output, scored)
    if changed:
        problems["parts_not_as_written"] = changed
    summary = merged_summary(model, output, shards, scored, problems)
    storage.write_bytes(storage.join(output, "_SUMMARY.json"), _json(summary), "application/json")
    record_drift_metrics(summary.get("drift"))
    if problems:
        storage.delete(storage.join(output, "_SUCCESS"))
        raise JobFailed(f"{output}: {'; '.join(_describe(kind, found) for kind, found in problems.items())}")
    storage.write_bytes(storage.join(output, "_SUCCESS"), _json(_manifest(summary, scored)), "application/json")
    return {key: summary[key] for key in ("status", "output", "files", "shards", "rows_read", "customers_scored")}


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, indent=1, allow_nan=False).encode()


def _unfinished(shards: list[Shard]) -> dict[str, Any]:
    """Shards without a summary: failed, with ToleratedFailurePercentage above 0 (otherwise the
    Map itself fails first), or still being written by an earlier execution."""
    named = [{"shard": s.index, "input": s.file["uri"], "row_groups": s.row_groups} for s in shards]
    return {"count": len(shards), "first": named[:SHOWN]}


def _files_not_scored(summaries: dict[int, dict[str, Any]]) -> dict[str, str]:
    """Input files with a shard that could not score them, and the first reason given."""
    out: dict[str, str] = {}
    for index in sorted(summaries):
        summary = summaries[index]
        if summary["status"] != "scored":
            out.setdefault(summary["input"]["uri"], summary["message"])
    return out


def _rows_not_read_once(shards: list[Shard], scored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Files whose shards' owned rows do not tile the file's rows exactly."""
    planned = {shard.index: shard for shard in shards}
    by_file: dict[str, list[tuple[int, int]]] = {}
    for summary in scored:
        if planned[summary["shard"]].file_rows is not None:  # Parquet: the footer's row count is known
            start, stop = summary["owned_rows"]
            if stop > start:
                by_file.setdefault(summary["input"]["uri"], []).append((start, stop))
    file_rows = {shard.file["uri"]: shard.file_rows for shard in shards}
    wrong = []
    for uri, ranges in sorted(by_file.items()):
        ranges.sort()
        edges_meet = all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
        if not edges_meet or ranges[0][0] != 0 or ranges[-1][1] != file_rows[uri]:
            wrong.append({"input": uri, "file_rows": file_rows[uri], "owned_rows": ranges[: SHOWN * 2]})
    return wrong


def duplicate_customers(output: str, scored: list[dict[str, Any]]) -> dict[str, Any]:
    """Customer IDs found in two parts: candidates by fingerprint, confirmed on the IDs.

    Memory: the fingerprints once (8 bytes a customer, sorted in place), so 100 M customers
    take 800 MB; the parts are read only where a fingerprint repeats."""
    names = [fingerprints_uri(output, s["shard"]) for s in scored]
    with ThreadPoolExecutor(READERS) as pool:
        found = list(pool.map(storage.read_bytes, names))
    everything = np.empty(sum(len(data or b"") for data in found) // 8, dtype="<u8")
    at = 0
    for position, data in enumerate(found):
        chunk = np.frombuffer(data or b"", dtype="<u8")
        everything[at : at + chunk.size] = chunk
        at += chunk.size
        found[position] = None  # keep one copy, not two
    everything.sort()
    suspects = np.unique(everything[1:][everything[1:] == everything[:-1]])
    del everything
    if not suspects.size:
        return {"count": 0, "first": []}
    seen: dict[str, list[int]] = {}
    for summary, name in zip(scored, names, strict=True):
        prints = np.frombuffer(storage.read_bytes(name) or b"", dtype="<u8")
        if not np.isin(prints, suspects).any():
            continue
        data = storage.read_bytes(part_uri(output, summary["shard"]))
        ids = pq.read_table(io.BytesIO(data or b""), columns=[CUSTOMER_ID])[CUSTOMER_ID].combine_chunks()
        for customer in ids.filter(np.isin(id_fingerprints(ids), suspects)).to_pylist():
            seen.setdefault(customer, []).append(summary["shard"])
    shards_of = {customer: found for customer, found in sorted(seen.items()) if len(found) > 1}
    return {"count": len(shards_of), "first": list(shards_of)[:SHOWN], "shards": shards_of}


def _ungrouped_files(twice: dict[str, Any], scored: list[dict[str, Any]]) -> dict[str, str]:
    """Split files with a customer in two of their own parts: not grouped by customer, which
    each shard cannot see alone. Named, as any file that could not be scored is."""
    file_of = {summary["shard"]: summary["input"]["uri"] for summary in scored}
    found: dict[str, str] = {}
    for customer, shards in twice.get("shards", {}).items():
        files = {file_of[shard] for shard in shards}
        if len(files) == 1:
            found.setdefault(
                files.pop(),
                f"rows are not grouped by customer_ID: customer {customer!r} is in the rows of shards "
                f"{', '.join(map(str, sorted(shards)))}; a file large enough to be split must keep each customer's "
                "statements together (sorted by customer_ID, as Kaggle's files are)",
            )
    return found


def _still_twice(twice: dict[str, Any], scored: list[dict[str, Any]]) -> dict[str, Any]:
    """The customers in two parts among the parts that remain (across files)."""
    kept = {summary["shard"] for summary in scored}
    customers = [c for c, shards in twice.get("shards", {}).items() if sum(s in kept for s in shards) > 1]
    return {"count": len(customers), "first": customers[:SHOWN]}


def parts_not_as_written(output: str, scored: list[dict[str, Any]]) -> dict[str, Any]:
    """Parts deleted, truncated or replaced since their shard wrote them: `_SUCCESS` lists only
    parts that are, byte for byte, what their shard recorded (its size, and on S3 the ETag of
    its own PUT, by HEAD; a local part is read and its SHA-256 compared)."""

    def problem(summary: dict[str, Any]) -> str | None:
        recorded, uri = summary["part"], part_uri(output, summary["shard"])
        try:
            found = storage.stat(uri)
        except FileNotFoundError:
            return "missing"
        if found.size != recorded["bytes"]:
            return f"{found.size} bytes, written as {recorded['bytes']}"
        if storage.is_s3(uri):
            return None if found.etag == recorded.get("etag") else "replaced (its ETag is not the one written)"
        digest = hashlib.sha256(storage.read_bytes(uri) or b"").hexdigest()
        return None if digest == recorded["sha256"] else "replaced (its SHA-256 is not the one written)"

    with ThreadPoolExecutor(READERS) as pool:
        found = list(pool.map(problem, scored))
    wrong = [{"part": s["part"]["name"], "problem": p} for s, p in zip(scored, found, strict=True) if p is not None]
    return {"count": len(wrong), "first": wrong[:SHOWN]} if wrong else {}


def merged_summary(
    model: Model, output: str, shards: list[Shard], scored: list[dict[str, Any]], problems: dict[str, Any]
) -> dict[str, Any]:
    """The dataset's summary, computed from the shards' counts as one pass over it would."""
    customers_scored = sum(s["customers_scored"] for s in scored)
    rows_read = sum(s["rows_read"] for s in scored)
    customers = sum(s["customers"] for s in scored)
    skipped: Counter[str] = Counter()
    unseen: Counter[str] = Counter()
    for s in scored:
        skipped.update(s["customers_skipped"])
        unseen.update(s["unseen_categories"])
    summary: dict[str, Any] = {
        "status": "failed" if problems else "succeeded",
        "output": output,
        "model": {"name": model.name, "version": model.version, "checksum": model.checksum},
        "files": len({shard.file["uri"] for shard in shards}),
        "shards": len(shards),
        "rows_read": rows_read,
        "customers": customers,
        "customers_scored": customers_scored,
        "customers_skipped": dict(sorted(skipped.items())),
        "statements_superseded": rows_read - customers,
        "unseen_categories": dict(sorted(unseen.items())),
        "score_quantiles": quantiles_from_histogram(merge_histograms(s["score_histogram"] for s in scored)),
        "score_quantiles_precision": QUANTILE_PRECISION,
        "threshold": model.threshold,
        "share_default": round(sum(s["defaults"] for s in scored) / customers_scored, 6) if customers_scored else None,
        **({"problems": problems} if problems else {}),
    }
    reference = model.artifacts.reference if model.artifacts else None
    drift = summary_drift(reference, _summed_counts(scored) if reference is not None else {})
    if drift is not None:
        summary["drift"] = drift
    return summary


def _summed_counts(scored: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    total: dict[str, np.ndarray] = {}
    for summary in scored:
        for name, counts in (summary["drift_counts"] or {}).items():
            found = np.asarray(counts, dtype=np.int64)
            total[name] = total[name] + found if name in total else found
    return total


def _manifest(summary: dict[str, Any], scored: list[dict[str, Any]]) -> dict[str, Any]:
    listed = ("name", "customers", "bytes", "sha256")  # the same wherever the job ran (an ETag is S3's)
    parts = [{key: s["part"][key] for key in listed} for s in sorted(scored, key=lambda s: int(s["shard"]))]
    keep = ("output", "model", "files", "rows_read", "customers_scored")
    return {**{key: summary[key] for key in keep}, "parts": parts}


def _describe(kind: str, found: Any) -> str:
    if kind == "shards_not_finished":
        shown = ", ".join(f"{s['shard']} ({s['input']})" for s in found["first"])
        return f"{found['count']} shards did not finish: {shown}"
    if kind == "files_not_scored":
        return f"{len(found)} files not scored: " + "; ".join(
            f"{uri}: {why}" for uri, why in list(found.items())[:SHOWN]
        )
    if kind == "rows_not_read_once":
        return f"{len(found)} files whose rows were not each read once: " + ", ".join(f["input"] for f in found[:SHOWN])
    if kind == "parts_not_as_written":
        shown = ", ".join(f"{f['part']} ({f['problem']})" for f in found["first"])
        return f"{found['count']} parts are not what their shards wrote: {shown}"
    return f"{found['count']} customers in two parts (customers spread over several files are not supported): " + (
        ", ".join(found["first"])
    )
