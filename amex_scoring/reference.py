"""The drift reference of any model: `amex-scoring reference --model DIR --data STATEMENTS` and
`import-legacy --reference-data STATEMENTS`.

A statements file that stands for the training population (the training sample, say) is scored
by the model through the batch function's own path (latest statement per customer, the same
input rules); the score's and each input's distributions over those customers are what
`train` writes as `reference.json` (lambda_function/core/drift.py, `build_reference`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lambda_function.core.artifacts import write_model_directory
from lambda_function.core.drift import build_reference
from lambda_function.core.scoring import Model
from lambda_function.files.file_scoring import score_statements
from lambda_function.files.reading import InputError, input_format, local_opener
from lambda_function.monitoring.capture import FileCapture

from .model_readme import write_model_readme

MIN_CUSTOMERS = 100  # deciles of fewer customers say more about the sample than the population


def reference_from_statements(model: Model, data: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(reference.json's content, the manifest's note of it) from a statements file."""
    path = Path(data)
    fmt = input_format(str(path))
    if fmt is None:
        raise InputError(f"{path}: expected a .parquet, .csv or .csv.gz statements file")
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    capture = FileCapture(model, "batch", str(path), "never written")  # its records name what was imputed
    scored = score_statements(model, local_opener(str(path)), fmt, capture=capture)
    if scored.customers < MIN_CUSTOMERS:
        raise InputError(
            f"{path}: {scored.customers} customers could be scored; a drift reference needs at least {MIN_CUSTOMERS}"
        )
    categories = {name: len(vocabulary.categories) for name, vocabulary in model.pipeline.vocabularies.items()}
    reference = build_reference(scored.drift_inputs, categories, _missing_shares(model, capture, scored.customers))
    created = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return reference, {"data": path.name, "customers": reference["customers"], "created": created}


def _missing_shares(model: Model, capture: FileCapture, customers: int) -> dict[str, float]:
    """Each input's share of customers whose value was missing and imputed: what the monitor
    counts in a window's captures, counted the same way here."""
    imputed = pc.list_flatten(pa.concat_tables(capture.tables)["imputed"])
    counts = {row["values"]: row["counts"] for row in pc.value_counts(imputed).to_pylist()} if len(imputed) else {}
    return {name: counts.get(name, 0) / customers for name in model.inputs}


def add_reference(model_dir: str | Path, data: str | Path) -> dict[str, Any]:
    """Add or replace the reference of an existing model directory (verified first), in one step."""
    model = Model(str(model_dir)).load()  # verified: every file against the manifest
    assert model.artifacts is not None
    artifacts = model.artifacts
    reference, described = reference_from_statements(model, data)
    manifest = {key: value for key, value in artifacts.manifest.items() if key not in ("format_version", "files")}
    manifest["reference"] = described
    write_model_directory(
        model_dir, manifest, artifacts.preprocessing, artifacts.booster_bytes, reference, artifacts.golden
    )
    write_model_readme(model_dir)
    return manifest


def describe_reference(manifest: dict[str, Any]) -> str:
    """The last line of a command that wrote a model: what drift will be measured against."""
    described = manifest.get("reference")
    if not described:
        return (
            "no drift reference: summaries will say drift has 'no reference' and the functions emit "
            "DriftReferenceMissing; add one with --reference-data, or amex-scoring reference --model DIR --data FILE"
        )
    return f"drift reference: {described['customers']} customers of {described['data']}"
