"""The columnar pipeline against scikit-learn's own SimpleImputer + DictVectorizer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambda_function.core.features import Categorical, FeaturePipeline, Vocabulary
from lambda_function.core.latest import NO_DATE, latest_rows, latest_statements


def test_numeric_codes_are_found_however_they_are_spelt() -> None:
    vocabulary = Vocabulary(["-1.0", "0.0", "1.0"], missing=0.0)
    for value in (0, 0.0, "0", "0.0", " 0.0 ", np.float32(0), np.int64(0)):
        assert vocabulary.index(value) == 1, value
    assert vocabulary.index(-1) == 0
    assert vocabulary.index(None) == 1  # missing -> the training median
    assert vocabulary.index(float("nan")) == 1
    assert vocabulary.index(7) == -1
    assert vocabulary.index(True) == -1  # a boolean is not a category code


def test_text_codes_keep_their_spelling() -> None:
    vocabulary = Vocabulary(["-1", "None", "O", "R", "U"], missing="None")
    assert vocabulary.index("-1") == 0
    assert vocabulary.index(-1) == 0
    assert vocabulary.index(-1.0) == 0
    assert vocabulary.index(None) == 1  # a missing D_64 is the learnt category "None"
    assert vocabulary.index("O") == 2
    assert vocabulary.index("o") == -1


def test_remembered_spellings_give_what_index_gives() -> None:
    """The per-container memory of spellings never conflates 1 with "1" or True, and stays bounded."""
    from lambda_function.core import features

    numeric = Vocabulary(["-1.0", "0.0", "1.0"], missing=0.0)
    text = Vocabulary(["-1", "1", "None", "O"], missing="None")
    spellings = [0, 0.0, "0", "0.0", 1, "1", 1.0, "1.0", True, False, None, float("nan"), " 1 ", "O", "o", -1, "-1"]
    for vocabulary in (numeric, text):
        expected = [vocabulary.index(value) for value in spellings]
        assert vocabulary.positions(spellings) == expected
        assert vocabulary.positions(spellings[::-1]) == expected[::-1]  # now answered from memory
    many = Vocabulary(["a"], missing=None)
    many.positions([f"code-{i}" for i in range(features.REMEMBERED_SPELLINGS + 500)])
    assert len(many._text) == features.REMEMBERED_SPELLINGS
    assert many.positions(["a", float("nan"), float("nan")]) == [0, -1, -1]
    assert many.positions(np.array(["a", None, "b"], dtype=object)) == [0, -1, -1]  # any sequence
    assert many.positions([]) == []


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_long_columns_of_numbers_give_what_index_gives(data: st.DataObject) -> None:
    """A batch's numeric codes are looked up vectorised; the answer must be `index`'s, value for value."""
    from lambda_function.core import features

    vocabulary = Vocabulary(["-1.0", "0.0", "1.0", "2.5"], missing=0.0)
    codes = st.sampled_from([0, 0.0, -0.0, 1, 1.0, -1, 2.5, 3, float("nan"), None])
    numbers = st.one_of(codes, st.floats(), st.integers(min_value=-(2**80), max_value=2**80))
    values = data.draw(st.lists(numbers, min_size=features.VECTORISED_FROM, max_size=150))
    if data.draw(st.booleans()):  # a value the vectorised path leaves to `index`
        odd = data.draw(st.sampled_from([True, "1.0", 10**400, -(10**400), np.float32(1.0)]))
        values.insert(data.draw(st.integers(0, len(values))), odd)
    assert list(vocabulary.positions(values)) == [vocabulary.index(value) for value in values]
    assert vocabulary.index(10**400) == -1  # no float holds it: unseen, not an error


@settings(max_examples=500, deadline=None)
@given(
    categories=st.lists(st.integers(-3, 40), min_size=1, max_size=8, unique=True),
    missing=st.sampled_from([None, "-1"]),
    data=st.data(),
)
def test_integer_codes_looked_up_by_table_give_what_index_gives(
    categories: list[int], missing: str | None, data: st.DataObject
) -> None:
    """Small integer codes (the AmEx layout's) go through a table; the answer must be `index`'s
    and the search's, value for value: holes, fractions, -0.0, infinities, NaN, far values."""
    vocabulary = Vocabulary([str(float(c)) for c in categories], missing=missing)
    assert vocabulary._table is not None
    searching = Vocabulary([str(float(c)) for c in categories], missing=missing)
    searching._table = None
    special = st.sampled_from(
        [-0.0, 0.5, 5e-324, -5e-324, 1 - 2**-53, float("inf"), float("-inf"), float("nan"), 1e300, -4.0, 41.0, 1024.0]
    )
    values = data.draw(st.lists(st.one_of(st.integers(-5, 45).map(float), special, st.floats()), max_size=60))
    array = np.array(values, dtype=np.float64)
    expected = [vocabulary.index(value) for value in values]
    assert vocabulary.number_positions(array).tolist() == searching.number_positions(array).tolist() == expected


def test_unseen_categories_are_reported_with_what_the_client_sent(synthetic_model) -> None:
    pipeline = synthetic_model.pipeline
    encoded = pipeline.encode({"D_63": ["CO", "ZZ", 7, "CO"], "B_30": [9, 0, "0", "9.0"]}, 4)
    assert encoded.warnings == [
        ["B_30: unseen category 9, encoded as all zeros"],
        ["D_63: unseen category 'ZZ', encoded as all zeros"],
        ["D_63: unseen category 7, encoded as all zeros"],
        ["B_30: unseen category '9.0', encoded as all zeros"],
    ]


def _sklearn_reference(frame: pd.DataFrame, numeric: list[str], categorical: list[str]):
    """Fit scikit-learn's objects the way the user's recipe does."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.impute import SimpleImputer

    from amex_scoring.recipe import vectorizer_records

    imputed = numeric + [c for c in categorical if pd.api.types.is_numeric_dtype(frame[c])]
    imputer = SimpleImputer(strategy="median").fit(frame[imputed])
    vectorizer = DictVectorizer(sparse=False).fit(vectorizer_records(frame, imputer, numeric, categorical))
    return imputer, vectorizer


def test_matrix_equals_simple_imputer_and_dict_vectorizer(statements_file) -> None:
    from amex_scoring.recipe import (
        CATEGORICAL_INPUTS,
        NUMERIC_INPUTS,
        latest_statement_per_customer,
        preprocessing_spec,
        vectorizer_records,
    )

    numeric, categorical = list(NUMERIC_INPUTS), list(CATEGORICAL_INPUTS)
    frame = latest_statement_per_customer(pd.read_parquet(statements_file))
    imputer, vectorizer = _sklearn_reference(frame, numeric, categorical)
    # Score different rows than the ones fitted on, with holes and unseen categories.
    rng = np.random.default_rng(3)
    scored = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    for name in numeric + categorical:
        scored.loc[rng.random(len(scored)) < 0.15, name] = None
    scored["D_63"] = scored["D_63"].astype(object)
    scored.loc[:9, "D_63"] = "ZZ"
    scored.loc[10:19, "B_38"] = 42.0
    expected = vectorizer.transform(vectorizer_records(scored, imputer, numeric, categorical))

    pipeline = FeaturePipeline(preprocessing_spec(imputer, vectorizer))
    columns = {
        name: scored[name].to_numpy(dtype=np.float64, na_value=np.nan)
        if pd.api.types.is_numeric_dtype(scored[name])
        else [None if pd.isna(v) else v for v in scored[name]]
        for name in pipeline.inputs
    }
    encoded = pipeline.encode(columns, len(scored), vectorizer_only=True)
    np.testing.assert_array_equal(encoded.matrix, expected)
    # Unseen categories encode as all zeros (as DictVectorizer does) and are reported.
    assert set(encoded.unseen["D_63"][0]) >= set(range(10))  # plus missing D_63: never seen in training
    assert set(encoded.unseen["B_38"][0]) >= set(range(10, 20))
    assert "D_63: unseen category 'ZZ', encoded as all zeros" in encoded.warnings[0]


def test_categorical_columns_from_parquet_codes_and_json_values_agree(synthetic_model) -> None:
    pipeline = synthetic_model.pipeline
    as_json = {"B_30": [0, "0.0", "1", 2.0, None, -0.0, 9], "D_64": ["O", None, "-1", "U", "R", "O", "O"]}
    as_codes = {
        "B_30": np.array([0.0, 0.0, 1.0, 2.0, np.nan, -0.0, 9.0]),  # a file's numeric column
        "D_64": Categorical(np.array([0, -1, 1, 2, 3, 0, 0], dtype=np.int32), ["O", "-1", "U", "R"]),
    }
    a = pipeline.encode(as_json, 7)
    b = pipeline.encode(as_codes, 7)
    np.testing.assert_array_equal(a.matrix, b.matrix)
    assert "D_64" not in a.unseen and "D_64" not in b.unseen
    assert a.unseen["B_30"][0].tolist() == b.unseen["B_30"][0].tolist() == [6]  # 9 was never learnt
    # Each names the value as it came: a JSON integer, a file's float.
    assert a.warnings[6][0] == "B_30: unseen category 9, encoded as all zeros"
    assert b.warnings[6][0] == "B_30: unseen category 9.0, encoded as all zeros"


def test_latest_statement_wins_whatever_the_order() -> None:
    records = [
        {"customer_ID": "b", "S_2": "2018-01-05", "P_2": 1.0},
        {"customer_ID": "a", "S_2": "2018-03-05", "P_2": 2.0},
        {"customer_ID": "a", "S_2": "2018-01-05", "P_2": 3.0},
        {"customer_ID": "b", "S_2": None, "P_2": 4.0},
        {"customer_ID": "b", "S_2": "2018-01-05", "P_2": 5.0},  # same date: the later record
    ]
    dates = [None if r["S_2"] is None else dt.date.fromisoformat(r["S_2"]) for r in records]  # as validated
    rows = latest_statements([r["customer_ID"] for r in records], dates)
    assert [records[row]["customer_ID"] for row in rows] == ["b", "a"]
    assert [records[row]["P_2"] for row in rows] == [5.0, 2.0]


def test_malformed_spec_is_refused() -> None:
    with pytest.raises(ValueError, match="no imputation value"):
        FeaturePipeline({"numeric": {}, "categorical": {}, "columns": [["D_48", None]]})


def _small_spec(**extra: object) -> dict[str, object]:
    """Two numeric inputs and one categorical, laid out as DictVectorizer does (sorted names)."""
    return {
        "numeric": {"B_1": {"impute": 0.5}, "P_2": {"impute": -2.0}},
        "categorical": {"D_63": {"categories": ["CL", "CO", "CR"], "missing": None}},
        "columns": [["B_1", None], ["D_63", "CL"], ["D_63", "CO"], ["D_63", "CR"], ["P_2", None]],
        **extra,
    }


def test_min_max_scaling_and_its_clip_equal_scikit_learn() -> None:
    from sklearn.preprocessing import MinMaxScaler

    fitted = np.array([[0.0, 0, 1, 0, -4.0], [2.0, 1, 0, 0, 4.0], [1.0, 0, 0, 1, 0.0]])
    records = {"B_1": np.array([-3.0, 1.0, 9.0, np.nan]), "P_2": np.array([5.0, -9.0, 0.25, np.nan])}
    records_d63 = ["CO", "CL", "CR", "XX"]
    for clip in (False, True):
        scaler = MinMaxScaler(clip=clip).fit(fitted)
        scaling = {
            "scale": scaler.scale_.tolist(),
            "offset": scaler.min_.tolist(),
            "clip": [0.0, 1.0] if clip else None,
        }
        pipeline = FeaturePipeline(_small_spec(scaling=scaling))
        encoded = pipeline.encode({**records, "D_63": records_d63}, 4)
        unscaled = FeaturePipeline(_small_spec()).encode({**records, "D_63": records_d63}, 4, vectorizer_only=True)
        expected = scaler.transform(unscaled.matrix).astype(np.float32)
        np.testing.assert_array_equal(encoded.matrix, expected)
        assert (encoded.matrix.min() < 0) is not clip  # out-of-range inputs: clipped only when asked


def test_selected_columns_and_the_vectorizer_matrix() -> None:
    """RFE's selection applies to the booster's matrix; `vectorizer_only` is DictVectorizer's, every column."""
    pipeline = FeaturePipeline(_small_spec(selected=[4, 2]))
    columns = {"B_1": np.array([1.0, np.nan]), "P_2": np.array([np.nan, 3.0]), "D_63": ["CO", None]}
    np.testing.assert_array_equal(pipeline.encode(columns, 2).matrix, np.array([[-2.0, 1.0], [3.0, 0.0]], np.float32))
    np.testing.assert_array_equal(
        pipeline.encode(columns, 2, vectorizer_only=True).matrix,
        np.array([[1.0, 0, 1, 0, -2.0], [0.5, 0, 0, 0, 3.0]]),
    )
    assert pipeline.feature_names == ["P_2", "D_63=CO"]
    assert pipeline.column_name(1) == "D_63=CL"


def test_numbers_past_float32_become_its_largest_value() -> None:
    pipeline = FeaturePipeline(_small_spec())
    encoded = pipeline.encode({"B_1": np.array([1e39, -1e39]), "P_2": np.array([3.0e38, 1.0]), "D_63": ["CL", "CL"]}, 2)
    biggest = np.finfo(np.float32).max
    np.testing.assert_array_equal(encoded.matrix[:, 0], [biggest, -biggest])
    assert encoded.matrix[0, 4] == np.float32(3.0e38)  # within range: kept as it is
    assert encoded.unseen == {}  # "CL" is the first learnt category, position 0: seen
    assert encoded.warnings == [[], []]


def test_an_absent_input_is_imputed_and_the_others_are_kept() -> None:
    pipeline = FeaturePipeline(_small_spec())
    encoded = pipeline.encode({"B_1": np.array([7.0, np.nan]), "D_63": ["CR", "CO"]}, 2)  # no P_2 at all
    np.testing.assert_array_equal(encoded.matrix, np.array([[7.0, 0, 0, 1, -2.0], [0.5, 0, 1, 0, -2.0]], np.float32))


def test_rows_with_infinite_inputs_in_different_fields_are_all_rejected() -> None:
    pipeline = FeaturePipeline(_small_spec())
    columns = {"B_1": np.array([np.inf, 1.0, 1.0]), "P_2": np.array([1.0, 1.0, -np.inf]), "D_63": ["CL"] * 3}
    rejected = pipeline.encode(columns, 3).rejected()
    assert rejected is not None and rejected.tolist() == [True, False, True]
    assert pipeline.encode({"B_1": np.array([1.0]), "D_63": ["CL"]}, 1).rejected() is None


def test_unseen_file_categories_are_reported_by_value_and_odd_values_are_unseen() -> None:
    pipeline = FeaturePipeline(_small_spec())
    column = Categorical(np.array([0, -1, 1], dtype=np.int32), ["ZZ", "CO"])  # a file's dictionary column
    encoded = pipeline.encode({"D_63": column}, 3)
    assert encoded.warnings == [
        ["D_63: unseen category 'ZZ', encoded as all zeros"],
        ["D_63: missing, and never missing in training: encoded as all zeros"],
        [],
    ]
    vocabulary = Vocabulary(["-1.0", "0.0"], missing=0.0)
    for odd in ("7", "x", [0.0], {"0.0": 1}, object(), b"0.0"):
        assert vocabulary.index(odd) == -1, odd


def test_malformed_spec_names_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"column D_63=CX has no vocabulary"):
        FeaturePipeline({**_small_spec(), "columns": [["D_63", "CX"]]})
    with pytest.raises(ValueError, match=r"column D_64=O has no vocabulary"):
        FeaturePipeline({**_small_spec(), "columns": [["D_64", "O"]]})
    with pytest.raises(ValueError, match="one entry per selected column"):
        FeaturePipeline(_small_spec(scaling={"scale": [1.0] * 5, "offset": [0.0] * 4}))
    with pytest.raises(ValueError, match=r"preprocessing spec is malformed: KeyError\('numeric'\)"):
        FeaturePipeline({"categorical": {}, "columns": []})


@settings(max_examples=300, deadline=None)
@given(
    runs=st.lists(
        st.lists(st.one_of(st.just(int(NO_DATE)), st.integers(0, 5)), min_size=1, max_size=4), min_size=1, max_size=6
    ),
    grouped=st.booleans(),
    ascending=st.booleans(),
    data=st.data(),
)
def test_latest_rows_is_the_latest_statement_whatever_the_order(
    runs: list[list[int]], grouped: bool, ascending: bool, data: Any
) -> None:
    """Grouped, date-ascending files (the AmEx layout) and any other order give each customer's
    latest row: the latest date, the later row among equals, customers in
    order of first appearance."""
    rows = [(customer, sorted(dates) if ascending else dates) for customer, dates in enumerate(runs)]
    flat = [(customer, date) for customer, dates in rows for date in dates]
    if not grouped:
        flat = data.draw(st.permutations(flat))
    first_seen: dict[int, int] = {}
    codes = np.array([first_seen.setdefault(customer, len(first_seen)) for customer, _ in flat])
    dates = np.array([date for _, date in flat], dtype=np.int64)
    latest = [max(np.flatnonzero(codes == code), key=lambda row: (dates[row], row)) for code in range(codes.max() + 1)]
    assert latest_rows(codes, dates).tolist() == latest
