"""The user's training recipe, shared by `train`, `import-legacy` and the parity tests.

scikit-learn's own objects (median SimpleImputer, DictVectorizer) on pandas data, and
their translation into the plain-JSON preprocessing spec the runtime reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from lambda_function.core.latest import NO_DATE, latest_rows
from lambda_function.core.schema import CUSTOMER_ID, STATEMENT_DATE, TEXT_CATEGORICAL

# The 21 inputs of the user's original model.
NUMERIC_INPUTS = ("D_48", "D_55", "B_9", "D_58", "D_75", "B_7", "B_23", "B_16", "D_44", "B_3")
CATEGORICAL_INPUTS = ("B_30", "B_38", "D_114", "D_116", "D_117", "D_120", "D_126", "D_63", "D_64", "D_66", "D_68")
MISSING_TEXT = "None"  # what `astype(str)` made of a missing D_63/D_64 in the original recipe


def latest_statement_per_customer(frame: pd.DataFrame) -> pd.DataFrame:
    """The latest `S_2` of each customer, by the runtime's own rule (lambda_function.core.latest)."""
    dates = pd.to_datetime(frame[STATEMENT_DATE].astype("string").str.slice(0, 10), format="%Y-%m-%d")
    days = np.where(dates.isna(), NO_DATE, dates.to_numpy(dtype="datetime64[D]").astype(np.int64))
    codes, _ = pd.factorize(frame[CUSTOMER_ID])  # numbered in order of first appearance
    return frame.iloc[latest_rows(codes, days)].reset_index(drop=True)


def vectorizer_records(
    frame: pd.DataFrame, imputer: Any, numeric: Sequence[str], categorical: Sequence[str]
) -> list[dict[str, Any]]:
    """The original batch recipe: impute the numeric columns, cast categoricals to str."""
    frame = frame.copy()
    imputed = list(imputer.feature_names_in_)
    try:
        frame[imputed] = imputer.transform(frame[imputed])
    except AttributeError:
        # A SimpleImputer pickled by scikit-learn 1.3 lacks attributes that current
        # `transform` reads; filling each column with its `statistics_` is what it does.
        frame[imputed] = frame[imputed].astype(np.float64).fillna(dict(zip(imputed, imputer.statistics_, strict=True)))
    for name in categorical:
        column = frame[name]
        if name in TEXT_CATEGORICAL:
            column = column.astype(object).where(column.notna(), None)
        frame[name] = column.map(str)
    return frame[[*numeric, *categorical]].to_dict(orient="records")


def vectorizer_inputs(vectorizer: Any) -> tuple[list[str], dict[str, list[str]], list[tuple[str, str | None]]]:
    """(numeric inputs, categorical vocabularies in one-hot order, column layout)."""
    separator = getattr(vectorizer, "separator", "=")
    layout: list[tuple[str, str | None]] = []
    numeric: list[str] = []
    categorical: dict[str, list[str]] = {}
    for name in vectorizer.feature_names_:
        if separator in name:
            feature, category = name.split(separator, 1)
            categorical.setdefault(feature, []).append(category)
            layout.append((feature, category))
        else:
            numeric.append(name)
            layout.append((name, None))
    return numeric, categorical, layout


def preprocessing_spec(
    imputer: Any,
    vectorizer: Any,
    *,
    selected: Sequence[int] | None = None,
    scaling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    statistics = dict(zip(imputer.feature_names_in_, map(float, imputer.statistics_), strict=True))
    numeric, categorical, layout = vectorizer_inputs(vectorizer)
    missing = [name for name in numeric if name not in statistics or not np.isfinite(statistics[name])]
    if missing:
        raise ValueError(f"the imputer has no median for numeric input(s) {', '.join(missing)}")
    return {
        "numeric": {name: {"impute": statistics[name]} for name in numeric},
        "categorical": {
            name: {
                "categories": categories,
                # A missing value was imputed (numeric codes) or became the text "None".
                "missing": statistics[name] if name in statistics else MISSING_TEXT,
            }
            for name, categories in categorical.items()
        },
        "columns": [[feature, category] for feature, category in layout],
        "selected": None if selected is None else [int(i) for i in selected],
        "scaling": scaling,
    }


# The name every model answers to unless its maker says otherwise (`--name`): the README's V2
# paths, its Triton example and events/ use it, so they work for a trained or an imported model alike.
DEFAULT_MODEL_NAME = "amex-default-xgboost"


def manifest_header(name: str, version: str | None, source: str) -> dict[str, Any]:
    """Name, version (default: the creation time), creation time and source of a new model."""
    created = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return {
        "name": name,
        "version": version or created.strftime("%Y%m%d.%H%M%S"),
        "created": created.isoformat().replace("+00:00", "Z"),
        "source": source,
    }


def input_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """The manifest's description of what the model reads."""
    return {
        "id_column": CUSTOMER_ID,
        "date_column": STATEMENT_DATE,
        "numeric": list(spec["numeric"]),
        "categorical": {name: entry["categories"] for name, entry in spec["categorical"].items()},
        "booster_features": len(spec["selected"]) if spec.get("selected") is not None else len(spec["columns"]),
    }
