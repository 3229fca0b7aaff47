"""Importing the user's pickled model: same scores as the pickles, and no pickle at run time."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import xgboost
from helpers import BAD_CUSTOMER_PROBABILITY, GOOD_CUSTOMER_PROBABILITY, LEGACY_FILES

from amex_scoring.legacy import LegacyImportError, import_legacy, legacy_probabilities
from amex_scoring.recipe import (
    CATEGORICAL_INPUTS,
    NUMERIC_INPUTS,
    latest_statement_per_customer,
    vectorizer_records,
)
from lambda_function.core.scoring import Model
from lambda_function.files.file_scoring import score_statements
from lambda_function.files.statements import local_opener


def _example(legacy_dir: Path, which: str) -> dict:
    return json.loads((legacy_dir / f"example_{which}_customer.json").read_text())


def test_imported_legacy_model_scores_the_reference_customers(legacy_model_dir: Path, legacy_dir: Path) -> None:
    model = Model(str(legacy_model_dir)).load()
    for which, expected in (("good", GOOD_CUSTOMER_PROBABILITY), ("bad", BAD_CUSTOMER_PROBABILITY)):
        customer = _example(legacy_dir, which)
        scores = model.predict({name: [customer.get(name)] for name in model.inputs}, 1)
        assert scores.probability[0] == pytest.approx(expected, abs=1e-6)
        assert not scores.encoded.unseen


def test_imported_model_matches_the_pickles_on_multi_statement_files(
    legacy_model_dir: Path, legacy_dir: Path, statements_file: Path
) -> None:
    """Rows with holes, unseen categories and 1 to 13 statements per customer."""
    imputer = joblib.load(legacy_dir / LEGACY_FILES["imputer"])
    vectorizer = joblib.load(legacy_dir / LEGACY_FILES["vectorizer"])
    pipeline = joblib.load(legacy_dir / LEGACY_FILES["model"])
    frame = pd.read_parquet(statements_file)
    rng = np.random.default_rng(11)
    for name in (*NUMERIC_INPUTS, *CATEGORICAL_INPUTS):
        frame.loc[rng.random(len(frame)) < 0.1, name] = None
    frame.loc[rng.random(len(frame)) < 0.05, "B_38"] = 99.0
    frame = frame.sample(frac=1.0, random_state=2).reset_index(drop=True)  # any order
    path = statements_file.with_name("legacy-parity.parquet")
    frame.to_parquet(path, index=False)

    latest = latest_statement_per_customer(frame)
    expected = legacy_probabilities(imputer, vectorizer, pipeline, latest)
    scored = score_statements(Model(str(legacy_model_dir)).load(), local_opener(path), "parquet")
    ours = dict(
        zip(scored.predictions["customer_ID"].to_pylist(), scored.predictions["prediction"].to_pylist(), strict=True)
    )
    assert len(ours) == latest["customer_ID"].nunique() == 300
    np.testing.assert_allclose([ours[c] for c in latest["customer_ID"]], expected, atol=1e-6, rtol=0)


def test_import_writes_only_json_and_ubjson(legacy_model_dir: Path) -> None:
    names = sorted(p.name for p in legacy_model_dir.iterdir())
    assert names == ["README.md", "golden.json", "manifest.json", "model.ubj", "preprocessing.json"]
    manifest = json.loads((legacy_model_dir / "manifest.json").read_text())
    assert manifest["source"] == "imported"
    assert manifest["parity"]["max_abs_difference"] <= 1e-6
    assert len(manifest["inputs"]["categorical"]["D_64"]) == 5
    assert manifest["inputs"]["booster_features"] == 10
    for name in names:
        assert b"\x80\x04" not in (legacy_model_dir / name).read_bytes()[:2]  # no pickle header


# -- legacy-style pickles made here with current scikit-learn, so every machine covers the importer


@pytest.fixture(scope="module")
def fitted(statements_file: Path) -> dict:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.impute import SimpleImputer

    frame = latest_statement_per_customer(pd.read_parquet(statements_file))
    numeric, categorical = list(NUMERIC_INPUTS), list(CATEGORICAL_INPUTS)
    imputed = numeric + [c for c in categorical if c not in ("D_63", "D_64")]
    imputer = SimpleImputer(strategy="median").fit(frame[imputed])
    records = vectorizer_records(frame, imputer, numeric, categorical)
    vectorizer = DictVectorizer(sparse=False).fit(records)
    x = vectorizer.transform(records)
    y = (frame["D_48"].fillna(0).to_numpy() + frame["P_2"].fillna(0).to_numpy() * -0.5 > 0.2).astype(int)
    return {"imputer": imputer, "vectorizer": vectorizer, "x": x, "y": y}


def _pickles(tmp_path: Path, fitted: dict, model) -> list[Path]:
    paths = []
    for name, obj in (("vectorizer", fitted["vectorizer"]), ("imputer", fitted["imputer"]), ("model", model)):
        path = tmp_path / f"{name}.pkl"
        joblib.dump(obj, path)
        paths.append(path)
    return paths


def _classifier() -> xgboost.XGBClassifier:
    return xgboost.XGBClassifier(n_estimators=15, max_depth=3, n_jobs=1, random_state=0)


@pytest.mark.parametrize("shape", ["scaler-rfe-xgb", "rfe-scaler-xgb", "clipped-scaler-xgb", "xgb", "booster"])
def test_importer_reproduces_supported_pipelines(tmp_path: Path, fitted: dict, shape: str) -> None:
    from sklearn.feature_selection import RFE
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler

    selector = RFE(xgboost.XGBClassifier(n_estimators=5, n_jobs=1), n_features_to_select=8, step=10)
    steps = {
        "scaler-rfe-xgb": [("scaler", MinMaxScaler()), ("feature_selection", selector), ("classifier", _classifier())],
        "rfe-scaler-xgb": [("feature_selection", selector), ("scaler", MinMaxScaler()), ("classifier", _classifier())],
        "clipped-scaler-xgb": [("scaler", MinMaxScaler(clip=True)), ("classifier", _classifier())],
    }
    if shape in steps:
        model = Pipeline(steps[shape]).fit(fitted["x"], fitted["y"])
    else:
        model = _classifier().fit(fitted["x"], fitted["y"])
        if shape == "booster":
            model = model.get_booster()
    vectorizer, imputer, model_path = _pickles(tmp_path, fitted, model)
    manifest = import_legacy(vectorizer, imputer, model_path, tmp_path / "out")
    assert manifest["parity"]["max_abs_difference"] <= 1e-6
    Model(str(tmp_path / "out")).load()


def test_importer_refuses_unknown_steps_by_name(tmp_path: Path, fitted: dict) -> None:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    model = Pipeline([("scale", StandardScaler()), ("classifier", _classifier())]).fit(fitted["x"], fitted["y"])
    paths = _pickles(tmp_path, fitted, model)
    with pytest.raises(LegacyImportError, match=r"step 'scale' is a sklearn\.preprocessing\._data\.StandardScaler"):
        import_legacy(*paths, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_importer_reports_a_corrupt_pickle(tmp_path: Path, fitted: dict) -> None:
    vectorizer, imputer, model_path = _pickles(tmp_path, fitted, _classifier().fit(fitted["x"], fitted["y"]))
    model_path.write_bytes(model_path.read_bytes()[:100])
    with pytest.raises(LegacyImportError, match="cannot unpickle"):
        import_legacy(vectorizer, imputer, model_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
