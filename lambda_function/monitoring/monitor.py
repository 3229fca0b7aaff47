"""The monitor job: a window of capture records against the model's training reference, and the
decisions joined to their outcomes when a labels file is given.

Streaming: capture files are read one record batch at a time and only counts are kept (bins per
input, a 1,000-bin score histogram, counts per day, version and input), so memory is bounded by
the bins, not the decisions; the outcome join keeps one score per labelled customer. What the
job writes and draws is report.py's; the scheduled handler is handlers/monitor.py, the command
`amex-scoring monitor`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lambda_function.core.drift import DRIFT_PSI, psi_from_counts
from lambda_function.core.schema import CUSTOMER_ID
from lambda_function.core.scoring import Model
from lambda_function.files import storage
from lambda_function.monitoring import labels
from lambda_function.monitoring.capture import BINS_KEY
from lambda_function.monitoring.outcomes import outcome_metrics

SCORE_BINS = 1000  # the score histogram's: quantiles to 0.001
BATCH_ROWS = 65_536
COLUMNS = ["captured_at", "model_version", CUSTOMER_ID, "probability", "default", "imputed", "unseen"]
INPUT_MAPS = ["used_numeric", "used_category"]


def capture_files(uri: str, since: dt.date | None = None, until: dt.date | None = None) -> list[storage.StoredFile]:
    """Parquet files under `uri` in `date=YYYY-MM-DD` folders within the window (both ends in);
    names starting with `.` or `_` (a write in progress, a job's marker) are not records."""
    found = []
    root = (uri if storage.is_s3(uri) else str(Path(uri))).rstrip("/") + "/"  # as list_files spells paths
    for stored in storage.list_files(root):
        relative = stored.uri.removeprefix(root)
        if storage.is_hidden(relative) or not relative.endswith(".parquet"):
            continue
        parts = relative.split("/")
        day = next((part.removeprefix("date=") for part in parts if part.startswith("date=")), None)
        try:
            date = dt.date.fromisoformat(day) if day else None
        except ValueError:
            continue
        if date is None or (since and date < since) or (until and date > until):
            continue
        found.append(stored)
    return found


def read_labels(uri: str) -> dict[str, int]:
    """Each labelled customer's target (labels.py reads and checks the file)."""
    ids, targets = labels.read_labels(uri)
    return dict(zip(ids, targets.tolist(), strict=True))


class WindowSummary:
    """Counts over the records added; `result()` turns them into the report's numbers."""

    def __init__(self, model: Model, labels: Mapping[str, int] | None = None) -> None:
        self.model = model
        self.reference = model.artifacts.reference if model.artifacts else None
        self.labels = labels
        self.records = self.defaults = self.with_inputs = 0
        self.days: Counter[str] = Counter()
        self.versions: Counter[str] = Counter()
        self.imputed: Counter[str] = Counter()
        self.unseen: Counter[str] = Counter()
        self.scores = np.zeros(SCORE_BINS, dtype=np.int64)
        self.bins = InputBins(model, self.reference) if self.reference else None
        self.outcomes: dict[str, tuple[int, float]] = {}  # customer -> (captured_at ms, probability)

    def add(self, batch: pa.RecordBatch, binned: bool = False) -> None:
        """`binned`: the file's footer counts covered its scores and inputs (add_file_bins)."""
        n = batch.num_rows
        self.records += n
        probability = batch.column("probability").to_numpy(zero_copy_only=False)
        self.defaults += int(pc.sum(batch.column("default")).as_py() or 0)
        self.scores += np.bincount(
            np.clip((probability * SCORE_BINS).astype(np.int64), 0, SCORE_BINS - 1), minlength=SCORE_BINS
        )
        days = pc.value_counts(batch.column("captured_at").cast(pa.timestamp("ms")).cast(pa.date32()))
        self.days.update({str(d["values"]): d["counts"] for d in days.to_pylist()})
        self.versions.update(
            {v["values"]: v["counts"] for v in pc.value_counts(batch.column("model_version")).to_pylist()}
        )
        for counter, name in ((self.imputed, "imputed"), (self.unseen, "unseen")):
            flat = pc.list_flatten(batch.column(name))
            if len(flat):
                counter.update({v["values"]: v["counts"] for v in pc.value_counts(flat).to_pylist()})
        if self.bins is not None and not binned:
            self.with_inputs += self.bins.add(batch.column("used_numeric"), batch.column("used_category"), probability)
        if self.labels is not None:
            self._keep_outcomes(batch, probability)

    def add_file_bins(self, metadata: Mapping[bytes, bytes] | None) -> bool:
        """A file capture's footer counts (capture.BINS_KEY), when they are in this model's bins."""
        found = (metadata or {}).get(BINS_KEY.encode())
        if self.bins is None or found is None:
            return False
        bins = json.loads(found)
        if bins["model_version"] != self.model.version:
            return False
        self.with_inputs += self.bins.add_counts(bins["counts"])
        return True

    def _keep_outcomes(self, batch: pa.RecordBatch, probability: np.ndarray) -> None:
        """The latest captured score of each labelled customer."""
        ids = batch.column(CUSTOMER_ID)
        labelled = pc.is_in(ids, value_set=pa.array(list(self.labels or {}), pa.string()))
        rows = np.flatnonzero(labelled.to_numpy(zero_copy_only=False))
        times = batch.column("captured_at").cast(pa.int64()).to_numpy(zero_copy_only=False)
        for row, customer in zip(rows.tolist(), ids.take(pa.array(rows)).to_pylist(), strict=True):
            kept = self.outcomes.get(customer)
            if kept is None or times[row] >= kept[0]:
                self.outcomes[customer] = (int(times[row]), float(probability[row]))

    def quantiles(self) -> dict[str, float]:
        cumulative = np.cumsum(self.scores) / max(self.records, 1)
        marks = {"p01": 0.01, "p10": 0.1, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p90": 0.9, "p99": 0.99}
        return {k: round(float(np.searchsorted(cumulative, q) + 0.5) / SCORE_BINS, 4) for k, q in marks.items()}

    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "decisions": self.records,
            "decisions_per_day": dict(sorted(self.days.items())),
            "decisions_per_version": dict(sorted(self.versions.items())),
            "decision_rate": round(self.defaults / self.records, 6) if self.records else None,
            "score_quantiles": self.quantiles() if self.records else {},
            "missing": self._rates(self.imputed, "missing"),
            "unseen": self._rates(self.unseen, None),
        }
        result["drift"] = self.bins.result(self.with_inputs) if self.bins is not None else {"status": "no reference"}
        if self.labels is not None:
            result["outcomes"] = self._outcomes()
        return result

    def _rates(self, counter: Counter[str], training_key: str | None) -> dict[str, dict[str, float | None]]:
        training = (self.reference or {}).get(training_key, {}) if training_key else {}
        names = self.model.inputs if training_key else list(self.model.pipeline.vocabularies)
        return {
            name: {
                "rate": round(counter[name] / self.records, 6) if self.records else None,
                "training": training.get(name, 0.0 if training_key is None else None),
            }
            for name in names
        }

    def _outcomes(self) -> dict[str, Any]:
        labels = self.labels or {}
        joined = list(self.outcomes.items())
        found: dict[str, Any] = {"customers_labelled": len(labels), "customers_joined": len(joined)}
        targets = np.array([labels[customer] for customer, _ in joined])
        if len(joined) and 0 < targets.sum() < len(joined):
            found["metrics"] = outcome_metrics(targets, np.array([score for _, (_, score) in joined]))
        return found


class InputBins:
    """Counts in the reference's bins of the score and of every input, added batch by batch,
    vectorised over all inputs at once (no loop per input)."""

    def __init__(self, model: Model, reference: Mapping[str, Any]) -> None:
        self.reference = reference
        inputs = reference["inputs"]
        self.numeric = [n for n in model.pipeline.imputation if n in inputs]
        self.categorical = [n for n in model.pipeline.vocabularies if n in inputs]
        widest = max((len(inputs[n]["edges"]) for n in self.numeric), default=0)
        self.edges = np.full((len(self.numeric), widest), np.inf)
        for row, name in enumerate(self.numeric):
            self.edges[row, : len(inputs[name]["edges"])] = inputs[name]["edges"]
        self.numeric_counts = np.zeros((len(self.numeric), widest + 1), dtype=np.int64)
        vocabularies = {n: model.pipeline.vocabularies[n].categories for n in self.categorical}
        self.slots = max((len(c) + 1 for c in vocabularies.values()), default=1)
        self.pairs = pa.array([f"{n}\x1f{c}" for n in self.categorical for c in vocabularies[n]], pa.string())
        self.pair_slot = np.array(
            [(i, k) for i, n in enumerate(self.categorical) for k in range(len(vocabularies[n]))]
        ).reshape(-1, 2)
        self.unseen_slot = np.array([len(vocabularies[n]) for n in self.categorical], dtype=np.int64)
        self.category_counts = np.zeros((len(self.categorical), self.slots), dtype=np.int64)
        self.score_counts = np.zeros(len(reference["score"]["expected"]), dtype=np.int64)

    def add_counts(self, counts: Mapping[str, list[int]]) -> int:
        """Counts already in the reference's bins; returns how many records they cover."""
        self.score_counts += np.asarray(counts["score"], dtype=np.int64)
        for row, name in enumerate(self.numeric):
            found = counts.get(name, [])
            self.numeric_counts[row, : len(found)] += np.asarray(found, dtype=np.int64)
        for row, name in enumerate(self.categorical):
            found = counts.get(name, [])
            self.category_counts[row, : len(found)] += np.asarray(found, dtype=np.int64)
        return int(np.sum(counts["score"]))

    def add_scores(self, probability: np.ndarray) -> None:
        edges = np.asarray(self.reference["score"]["edges"])
        self.score_counts += np.bincount(np.searchsorted(edges, probability, "right"), minlength=self.score_counts.size)

    def add(self, numbers: pa.Array, categories: pa.Array, probability: np.ndarray) -> int:
        """Returns how many records carried their inputs."""
        self.add_scores(probability)
        if numbers.null_count == len(numbers):  # records without their inputs (a file's; CAPTURE_INPUTS=none)
            return 0
        numbers = numbers.combine_chunks() if isinstance(numbers, pa.ChunkedArray) else numbers
        categories = categories.combine_chunks() if isinstance(categories, pa.ChunkedArray) else categories
        if self.numeric and len(numbers.keys):
            which = pc.index_in(numbers.keys, value_set=pa.array(self.numeric)).to_numpy(zero_copy_only=False)
            values = numbers.items.to_numpy(zero_copy_only=False)
            known = ~np.isnan(which.astype(np.float64)) & np.isfinite(values)
            row = which[known].astype(np.int64)
            slot = (values[known, None] >= self.edges[row]).sum(axis=1)
            self.numeric_counts += np.bincount(
                row * self.numeric_counts.shape[1] + slot, minlength=self.numeric_counts.size
            ).reshape(self.numeric_counts.shape)
        if self.categorical and len(categories.keys):
            self._add_categories(categories)
        return int(len(numbers) - numbers.null_count)

    def _add_categories(self, categories: pa.Array) -> None:
        keys, items = categories.keys, categories.items
        which = pc.index_in(keys, value_set=pa.array(self.categorical)).to_numpy(zero_copy_only=False)
        known = ~np.isnan(which.astype(np.float64))
        pair = pc.index_in(pc.binary_join_element_wise(keys, items, "\x1f"), value_set=self.pairs)
        pair_index = pair.to_numpy(zero_copy_only=False).astype(np.float64)[known]
        row = which[known].astype(np.int64)
        slot = np.where(
            np.isnan(pair_index), self.unseen_slot[row], self.pair_slot[np.nan_to_num(pair_index).astype(np.int64), 1]
        )
        self.category_counts += np.bincount(row * self.slots + slot, minlength=self.category_counts.size).reshape(
            self.category_counts.shape
        )

    def counts(self) -> Iterator[tuple[str, np.ndarray]]:
        yield "score", self.score_counts
        inputs = self.reference["inputs"]
        for row, name in enumerate(self.numeric):
            yield name, self.numeric_counts[row, : len(inputs[name]["expected"])]
        for row, name in enumerate(self.categorical):
            yield name, self.category_counts[row, : len(inputs[name]["expected"])]

    def result(self, with_inputs: int) -> dict[str, Any]:
        entries = {"score": self.reference["score"], **self.reference["inputs"]}
        psi: dict[str, Any] = {}
        for name, counts in self.counts():
            value = psi_from_counts(entries[name], counts)
            if value is not None:
                total = max(int(counts.sum()), 1)
                psi[name] = {
                    "psi": round(value, 6),
                    "drift": value > DRIFT_PSI,
                    "shares": (counts / total).round(6).tolist(),
                    "training": entries[name]["expected"],
                }
        drifted = sorted((name for name, entry in psi.items() if entry["drift"]), key=lambda n: -psi[n]["psi"])
        return {
            "status": "measured",
            "threshold": DRIFT_PSI,
            "records_with_inputs": with_inputs,
            "max_psi": max((entry["psi"] for name, entry in psi.items() if name != "score"), default=0.0),
            "drifted": drifted,
            "psi": psi,
        }


def _bincount(index: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """How many times each cell of an array of `shape` is named by its flat index."""
    counts: np.ndarray = np.bincount(index, minlength=int(np.prod(shape))).reshape(shape)
    return counts


def summarise(
    model: Model,
    captures: str,
    since: dt.date | None = None,
    until: dt.date | None = None,
    labels: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The window's report numbers (report.py writes them out)."""
    files = capture_files(captures, since, until)
    summary = WindowSummary(model, labels)
    for stored in files:
        source = stored.opener("parquet")()
        parquet = pq.ParquetFile(source)
        binned = summary.add_file_bins(parquet.schema_arrow.metadata)
        columns = COLUMNS if binned else [*COLUMNS, *INPUT_MAPS]
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns):
            summary.add(batch, binned)
    window = {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None}
    model_info = {"name": model.name, "version": model.version, "metrics": model.manifest.get("metrics", {})}
    return {"window": window, "captures": captures, "files": len(files), "model": model_info, **summary.result()}
