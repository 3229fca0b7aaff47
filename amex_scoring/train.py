"""`amex-scoring train`: the user's recipe with current libraries, exported without pickle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lambda_function.core.artifacts import write_model_directory
from lambda_function.core.drift import build_reference
from lambda_function.core.features import FeaturePipeline
from lambda_function.core.schema import CUSTOMER_ID, STATEMENT_DATE
from lambda_function.monitoring import labels
from lambda_function.monitoring.outcomes import amex_metric

from .golden import GOLDEN_CUSTOMERS, golden, with_coverage, with_unseen_and_missing
from .model_readme import write_model_readme
from .recipe import (
    CATEGORICAL_INPUTS,
    DEFAULT_MODEL_NAME,
    NUMERIC_INPUTS,
    input_schema,
    latest_statement_per_customer,
    manifest_header,
    preprocessing_spec,
    vectorizer_records,
)

PARITY_TOLERANCE = 1e-6


def read_statements(path: str | Path, columns: list[str]) -> pd.DataFrame:
    path = Path(path)
    present = _column_names(path)
    missing = [name for name in columns if name not in present]
    if missing:
        raise ValueError(f"{path}: missing required columns: {', '.join(missing)}")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path, columns=columns)
    return pd.read_csv(path, usecols=columns)


def _column_names(path: Path) -> list[str]:
    """A file's column names, or one clear error: Parquet by its footer, anything else as CSV."""
    if path.read_bytes()[:4] == b"PAR1" or path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.ParquetFile(path).schema_arrow.names)
        except Exception as error:
            raise ValueError(f"{path}: not a readable Parquet file ({error})") from None
    try:
        return list(pd.read_csv(path, nrows=0).columns)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ValueError(f"{path}: not a CSV file ({type(error).__name__})") from None


def read_labels(path: str | Path) -> pd.DataFrame:
    """`customer_ID,target`, checked as the monitor job checks it (lambda_function/monitoring/labels.py)."""
    ids, targets = labels.read_labels(str(path))
    return pd.DataFrame({CUSTOMER_ID: pd.Series(ids, dtype=object), "target": targets})


def train(
    data: str | Path,
    labels: str | Path,
    out: str | Path,
    *,
    seed: int = 42,
    n_estimators: int = 300,
    max_depth: int = 5,
    learning_rate: float = 0.05,
    name: str = DEFAULT_MODEL_NAME,
    version: str | None = None,
    threshold: float = 0.5,
    source_note: str = "",
    command: str = "",
) -> dict[str, Any]:
    """Train the recipe, check the exported pipeline against scikit-learn, write the model
    directory `out` with its reference, golden customers and README. `command` is recorded."""
    import xgboost
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    numeric, categorical = list(NUMERIC_INPUTS), list(CATEGORICAL_INPUTS)
    statements = read_statements(data, [CUSTOMER_ID, STATEMENT_DATE, *numeric, *categorical])
    customers = latest_statement_per_customer(statements)
    targets = read_labels(labels)
    statement_customers = len(customers)
    customers = customers.merge(targets, on=CUSTOMER_ID, how="inner", validate="1:1")
    if len(customers) < 100:
        raise ValueError(f"only {len(customers)} customers have a label; need at least 100")
    if len(customers) < 0.9 * statement_customers:  # most likely labels of another data set
        raise ValueError(
            f"{labels}: only {len(customers)} of the {statement_customers} customers in {data} have a label; "
            "label at least 90% of them"
        )
    fit, held_out = train_test_split(customers, test_size=0.2, random_state=seed, stratify=customers["target"])

    imputed = numeric + [name for name in categorical if pd.api.types.is_numeric_dtype(customers[name])]
    imputer = SimpleImputer(strategy="median").fit(fit[imputed])
    vectorizer = DictVectorizer(sparse=False)
    x_fit = vectorizer.fit_transform(vectorizer_records(fit, imputer, numeric, categorical))
    x_held_out = vectorizer.transform(vectorizer_records(held_out, imputer, numeric, categorical))
    classifier = xgboost.XGBClassifier(
        n_estimators=n_estimators,
        max_depth=max_depth,
        learning_rate=learning_rate,
        tree_method="hist",
        subsample=0.8,
        colsample_bytree=0.8,
        random_state=seed,
        n_jobs=2,
        eval_metric="auc",
    )
    classifier.fit(x_fit, fit["target"].to_numpy())
    expected = classifier.predict_proba(x_held_out)[:, 1]

    spec = preprocessing_spec(imputer, vectorizer)
    pipeline = FeaturePipeline(spec)
    booster = classifier.get_booster()
    booster.feature_names = None
    ours = booster.inplace_predict(pipeline.encode(_columns(held_out, pipeline), len(held_out)).matrix)
    gap = float(np.max(np.abs(ours - expected)))
    if gap > PARITY_TOLERANCE:
        raise RuntimeError(f"exported pipeline differs from scikit-learn by {gap:.3g}; nothing written")

    y = held_out["target"].to_numpy()
    auc = float(roc_auc_score(y, expected))
    metrics = {
        "auc": round(auc, 6),
        "gini": round(2 * auc - 1, 6),
        **{key: round(value, 6) for key, value in amex_metric(y, expected).items()},
        "default_rate": round(float(y.mean()), 6),
        "train_customers": len(fit),
        "validation_customers": len(held_out),
    }
    reference = _reference(pipeline, booster, customers)
    manifest = {
        **manifest_header(name, version, "trained"),
        "source_detail": {
            "data": Path(data).name,
            "labels": Path(labels).name,
            "seed": seed,
            "note": source_note,
            "command": command,
            "xgboost": xgboost.__version__,
            "params": {
                "n_estimators": n_estimators,
                "max_depth": max_depth,
                "learning_rate": learning_rate,
                "tree_method": "hist",
            },
        },
        "inputs": input_schema(spec),
        "threshold": threshold,
        "metrics": metrics,
        "reference": {"data": Path(data).name, "customers": reference["customers"]},
    }
    booster_bytes = bytes(booster.save_raw("ubj"))
    reference_customers = with_coverage(
        with_unseen_and_missing(held_out.head(GOLDEN_CUSTOMERS).drop(columns=["target"]), list(categorical)),
        manifest["inputs"],
    )
    write_model_directory(
        out,
        manifest,
        spec,
        booster_bytes,
        reference,
        golden=_self_scored(manifest, spec, booster_bytes, reference_customers),
    )
    write_model_readme(out)
    return manifest


def _self_scored(
    manifest: dict[str, Any], spec: dict[str, Any], booster_bytes: bytes, frame: pd.DataFrame
) -> dict[str, Any]:
    """Golden customers scored by the model as written, through the runtime's own path: what
    every later deployment of this model must reproduce."""
    import tempfile

    from lambda_function.core.scoring import Model
    from lambda_function.deploy.golden import scores

    unscored = golden(frame, [0.0] * len(frame), "this model, when trained")
    with tempfile.TemporaryDirectory() as folder:
        candidate = write_model_directory(Path(folder) / "model", manifest, spec, booster_bytes)
        found = scores(Model(str(candidate)).load(), unscored)
    return golden(frame, [found[c["customer_ID"]] for c in unscored["customers"]], "this model, when trained")


def _columns(frame: pd.DataFrame, pipeline: FeaturePipeline) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for name in pipeline.inputs:
        series = frame[name]
        if pd.api.types.is_numeric_dtype(series):
            columns[name] = series.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            columns[name] = [None if pd.isna(value) else value for value in series]
    return columns


def _reference(pipeline: FeaturePipeline, booster: Any, customers: pd.DataFrame) -> dict[str, Any]:
    """Training distributions of the score and of each input, for PSI drift checks."""
    encoded = pipeline.encode(_columns(customers, pipeline), len(customers))
    scores = booster.inplace_predict(encoded.matrix).astype(np.float64)
    categories = {name: len(vocabulary.categories) for name, vocabulary in pipeline.vocabularies.items()}
    missing = {name: float(customers[name].isna().mean()) if name in customers else 1.0 for name in pipeline.inputs}
    return build_reference({**encoded.numeric, **encoded.positions, "score": scores}, categories, missing)


def describe(manifest: dict[str, Any]) -> str:
    return json.dumps(
        {"name": manifest["name"], "version": manifest["version"], "metrics": manifest["metrics"]}, indent=1
    )
