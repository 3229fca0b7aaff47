"""`amex-scoring import-legacy`: pickled scikit-learn/XGBoost model -> safe model directory.

This is the only place in the project that unpickles, and only on the user's request:
unpickling runs code from the file, so it must only be done on files you trust.
The pickles' objects are read through their fitted attributes (`statistics_`,
`feature_names_`, `scale_`, `support_`, `get_booster()`), never `repr` or `get_params`,
which break on pickles from older scikit-learn releases.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lambda_function.core.artifacts import write_model_directory
from lambda_function.core.schema import CUSTOMER_ID
from lambda_function.core.scoring import Model

from .golden import GOLDEN_CUSTOMERS, golden, with_coverage
from .model_readme import write_model_readme
from .recipe import (
    DEFAULT_MODEL_NAME,
    input_schema,
    manifest_header,
    preprocessing_spec,
    vectorizer_inputs,
    vectorizer_records,
)
from .reference import reference_from_statements

PARITY_TOLERANCE = 1e-6
UNPICKLE_WARNING = (
    "import-legacy unpickles the given files: unpickling runs code stored in them. Only import files you trust."
)
SUPPORTED = "MinMaxScaler, RFE, RFECV, XGBClassifier, xgboost.Booster"


class LegacyImportError(Exception):
    pass


def _load(path: str | Path) -> Any:
    import joblib

    path = Path(path)
    if not path.is_file():
        raise LegacyImportError(f"file not found: {path}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # InconsistentVersionWarning, xgboost's old-model note
        try:
            return joblib.load(path)
        except Exception as error:  # a truncated or foreign file can fail in many ways
            raise LegacyImportError(f"cannot unpickle {path}: {type(error).__name__}: {error}") from None


def _steps(model: Any) -> list[tuple[str, Any]]:
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        return [(name, step) for name, step in model.steps if step is not None and step != "passthrough"]
    return [("model", model)]


def convert(imputer: Any, vectorizer: Any, model: Any) -> tuple[dict[str, Any], bytes]:
    """(preprocessing spec, booster UBJSON) from the fitted objects."""
    import xgboost
    from sklearn.feature_selection import RFE, RFECV
    from sklearn.preprocessing import MinMaxScaler

    if not hasattr(imputer, "statistics_") or not hasattr(imputer, "feature_names_in_"):
        raise LegacyImportError(
            f"the imputer ({type(imputer).__name__}) must be a fitted SimpleImputer with feature names "
            "(fitted on a DataFrame)"
        )
    if not hasattr(vectorizer, "feature_names_"):
        raise LegacyImportError(f"the vectorizer ({type(vectorizer).__name__}) must be a fitted DictVectorizer")
    layout_width = len(vectorizer.feature_names_)
    columns = list(range(layout_width))
    scale: np.ndarray | None = None
    offset: np.ndarray | None = None
    clip: list[float] | None = None
    booster: xgboost.Booster | None = None
    steps = _steps(model)
    for position, (name, step) in enumerate(steps):
        if booster is not None:
            raise LegacyImportError(f"step {name!r} comes after the classifier; the classifier must be last")
        if isinstance(step, MinMaxScaler):
            if scale is not None:
                raise LegacyImportError(f"step {name!r}: a second scaler is not supported")
            if len(step.scale_) != len(columns):
                raise LegacyImportError(f"step {name!r} scales {len(step.scale_)} columns but receives {len(columns)}")
            scale, offset = np.asarray(step.scale_, np.float64), np.asarray(step.min_, np.float64)
            if vars(step).get("clip", False):
                clip = [float(bound) for bound in step.feature_range]
        elif isinstance(step, RFE | RFECV):
            support = np.asarray(step.support_, dtype=bool)
            if support.size != len(columns):
                raise LegacyImportError(
                    f"step {name!r} selects from {support.size} columns but receives {len(columns)}"
                )
            columns = [column for column, keep in zip(columns, support, strict=True) if keep]
            if scale is not None:
                scale, offset = scale[support], offset[support]
        elif isinstance(step, xgboost.XGBClassifier):
            booster = step.get_booster()
        elif isinstance(step, xgboost.Booster):
            booster = step
        else:
            kind = f"{type(step).__module__}.{type(step).__qualname__}"
            where = f"step {name!r}" if len(steps) > 1 or position else "the model"
            raise LegacyImportError(f"{where} is a {kind}, which is not supported (supported: {SUPPORTED})")
    if booster is None:
        raise LegacyImportError("the model has no XGBClassifier or Booster step")
    objective = _objective(booster)
    if objective != "binary:logistic":
        raise LegacyImportError(f"the booster's objective is {objective!r}; only binary:logistic is supported")
    if booster.num_features() != len(columns):
        raise LegacyImportError(f"the booster expects {booster.num_features()} features but receives {len(columns)}")
    booster = booster.copy()
    booster.feature_names = None
    booster.feature_types = None
    scaling = None
    if scale is not None:
        scaling = {"scale": scale.tolist(), "offset": offset.tolist(), "clip": clip}
    spec = preprocessing_spec(
        imputer, vectorizer, selected=None if len(columns) == layout_width else columns, scaling=scaling
    )
    return spec, bytes(booster.save_raw("ubj"))


def _objective(booster: Any) -> str:
    import json

    return json.loads(booster.save_config())["learner"]["objective"]["name"]


def legacy_probabilities(imputer: Any, vectorizer: Any, model: Any, frame: pd.DataFrame) -> np.ndarray:
    """The original batch scoring, on one row per customer."""
    import xgboost

    numeric, categorical, _ = vectorizer_inputs(vectorizer)
    matrix = vectorizer.transform(vectorizer_records(frame, imputer, numeric, list(categorical)))
    if isinstance(model, xgboost.Booster):
        return model.predict(xgboost.DMatrix(matrix))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.predict_proba(matrix)[:, 1]


def parity_sample(imputer: Any, vectorizer: Any, customers: int = 400, seed: int = 7) -> pd.DataFrame:
    """Generated customers in the AmEx layout, with missing values and unseen categories."""
    from .synth import write_synthetic

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sample.parquet"
        write_synthetic(path, customers, statements=1, seed=seed)
        frame = pd.read_parquet(path)
    rng = np.random.default_rng(seed)
    numeric, categorical, _ = vectorizer_inputs(vectorizer)
    for name in [*numeric, *categorical]:
        if name in frame:
            frame.loc[rng.random(len(frame)) < 0.1, name] = None
    for name in categorical:
        if pd.api.types.is_numeric_dtype(frame[name]):
            frame.loc[rng.random(len(frame)) < 0.03, name] = 99.0  # never learnt
        else:
            frame[name] = frame[name].astype(object)
            frame.loc[rng.random(len(frame)) < 0.03, name] = "ZZ"
    for name in imputer.feature_names_in_:
        if name not in frame:
            frame[name] = np.nan
    return frame


def import_legacy(
    vectorizer_path: str | Path,
    imputer_path: str | Path,
    model_path: str | Path,
    out: str | Path,
    *,
    name: str = DEFAULT_MODEL_NAME,
    version: str | None = None,
    threshold: float = 0.5,
    reference_data: str | Path | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Convert, prove parity with the pickles, then write the model directory `out` with golden
    customers, the drift reference when `reference_data` is given, and its README."""
    imputer, vectorizer, model = _load(imputer_path), _load(vectorizer_path), _load(model_path)
    spec, booster = convert(imputer, vectorizer, model)
    manifest = {
        **manifest_header(name, version, "imported"),
        "source_detail": {
            "vectorizer": Path(vectorizer_path).name,
            "imputer": Path(imputer_path).name,
            "model": Path(model_path).name,
            "steps": [f"{type(step).__module__}.{type(step).__qualname__}" for _, step in _steps(model)],
            "command": command,
        },
        "inputs": input_schema(spec),
        "threshold": threshold,
        "metrics": {},
    }
    sample = parity_sample(imputer, vectorizer)
    expected = legacy_probabilities(imputer, vectorizer, model, sample)
    with tempfile.TemporaryDirectory() as folder:
        candidate = write_model_directory(Path(folder) / "model", manifest, spec, booster)
        loaded = Model(str(candidate)).load()
        columns = {
            column: sample[column].to_numpy(dtype=np.float64, na_value=np.nan)
            if pd.api.types.is_numeric_dtype(sample[column])
            else [None if pd.isna(value) else value for value in sample[column]]
            for column in loaded.inputs
        }
        ours = loaded.predict(columns, len(sample)).probability
        reference = None
        if reference_data is not None:
            reference, manifest["reference"] = reference_from_statements(loaded, reference_data)
    gap = float(np.max(np.abs(ours - expected)))
    if not gap <= PARITY_TOLERANCE:
        raise LegacyImportError(
            f"parity check failed: the imported model differs from the pickles by {gap:.3g} "
            f"(tolerance {PARITY_TOLERANCE}) on {len(sample)} generated customers; nothing written"
        )
    manifest["parity"] = {"customers": len(sample), "max_abs_difference": gap, "id_column": CUSTOMER_ID}
    reference_customers = with_coverage(_golden_frame(sample, Path(model_path).parent), manifest["inputs"])
    expected_golden = legacy_probabilities(imputer, vectorizer, model, reference_customers)
    write_model_directory(
        out, manifest, spec, booster, reference, golden(reference_customers, expected_golden, "the user's pickles")
    )
    write_model_readme(out)
    return manifest


def _golden_frame(sample: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """The first generated customers, and the user's own example customers where they are beside the pickles."""
    frames = [sample.head(GOLDEN_CUSTOMERS)]
    for path in sorted(folder.glob("example_*customer*.json")):
        example = json.loads(path.read_text())
        example.setdefault(CUSTOMER_ID, path.stem)
        frames.append(pd.DataFrame([example]))
    return pd.concat(frames, ignore_index=True)
