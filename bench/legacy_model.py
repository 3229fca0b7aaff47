"""The model both sides of a comparison use: the user's legacy pickles, imported once.

Where ../shared/legacy-artifacts is absent, a stand-in of the same shape (MinMaxScaler ->
RFE keeping 10 -> XGBClassifier, 100 trees of depth 5) is fitted on synthetic data.
"""

from __future__ import annotations

from pathlib import Path

from .common import CACHE, LEGACY, ROOT

FILES = ("dict_vectorizer.pkl", "imputer.pkl", "XGBoost_2023-11-05_14-54-16.bin")


def legacy_pickles() -> Path:
    if all((LEGACY / name).is_file() for name in FILES):
        return LEGACY
    folder = CACHE / "legacy-standin"
    if all((folder / name).is_file() for name in FILES):
        return folder
    import joblib
    import pandas as pd
    import xgboost
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.feature_selection import RFE
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler

    from amex_scoring.recipe import (
        CATEGORICAL_INPUTS,
        NUMERIC_INPUTS,
        latest_statement_per_customer,
        vectorizer_records,
    )
    from amex_scoring.synth import write_synthetic

    folder.mkdir(parents=True, exist_ok=True)
    data, labels = folder / "train.parquet", folder / "labels.csv"
    write_synthetic(data, 20000, statements=3, seed=1, labels_out=labels)
    frame = latest_statement_per_customer(pd.read_parquet(data)).merge(pd.read_csv(labels), on="customer_ID")
    from lambda_function.core.schema import NUMERIC

    imputer = SimpleImputer(strategy="median").fit(
        frame[sorted(set(NUMERIC) | {c for c in CATEGORICAL_INPUTS if c not in ("D_63", "D_64")})]
    )
    records = vectorizer_records(frame, imputer, list(NUMERIC_INPUTS), list(CATEGORICAL_INPUTS))
    vectorizer = DictVectorizer(sparse=False).fit(records)
    pipeline = Pipeline(
        [
            ("scaler", MinMaxScaler()),
            ("feature_selection", RFE(xgboost.XGBClassifier(n_estimators=20, n_jobs=2), n_features_to_select=10)),
            ("classifier", xgboost.XGBClassifier(n_estimators=100, max_depth=5, n_jobs=2)),
        ]
    ).fit(vectorizer.transform(records), frame["target"])
    for obj, name in zip((vectorizer, imputer, pipeline), FILES, strict=True):
        joblib.dump(obj, folder / name)
    return folder


def imported_model() -> Path:
    """The user's pickles imported by this checkout's importer (made anew when the importer changes)."""
    import hashlib

    code = b"".join(path.read_bytes() for path in sorted((ROOT / "amex_scoring").glob("*.py")))
    out = CACHE / f"legacy-model-{hashlib.sha256(code).hexdigest()[:12]}"
    if not (out / "manifest.json").is_file():
        from amex_scoring.legacy import import_legacy

        pickles = legacy_pickles()
        import_legacy(*(pickles / name for name in FILES), out)
    return out
