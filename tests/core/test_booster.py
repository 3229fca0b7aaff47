"""The ctypes binding to XGBoost's library gives exactly what the xgboost package gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xgboost
from helpers import SYNTHETIC_MODEL

from lambda_function.core.booster import Booster, BoosterError, library_path


def _matrix(columns: int, rows: int = 400) -> np.ndarray:
    rng = np.random.default_rng(7)
    matrix = rng.normal(scale=2.0, size=(rows, columns)).astype(np.float32)
    matrix[rng.random(matrix.shape) < 0.25] = np.nan  # the default-direction branches too
    matrix[:, : columns // 2] = np.round(matrix[:, : columns // 2])  # many values on split thresholds
    return matrix


@pytest.fixture(params=["committed", "legacy"])
def model_file(request: pytest.FixtureRequest) -> Path:
    if request.param == "committed":
        return SYNTHETIC_MODEL / "model.ubj"
    return request.getfixturevalue("legacy_model_dir") / "model.ubj"


def test_the_library_is_the_installed_xgboost_wheels() -> None:
    assert library_path().parent == Path(xgboost.__file__).parent / "lib"


@pytest.mark.parametrize("threads", [1, 0])
def test_predictions_and_contributions_are_bit_identical_to_the_xgboost_package(model_file: Path, threads: int) -> None:
    ours = Booster(model_file.read_bytes())
    reference = xgboost.Booster(model_file=str(model_file))
    assert ours.num_features == reference.num_features()
    matrix = _matrix(ours.num_features)
    ours.set_threads(threads)

    predicted = ours.predict(matrix)
    assert predicted.dtype == np.float32
    assert np.array_equal(predicted, reference.inplace_predict(matrix, validate_features=False))
    assert np.array_equal(predicted, reference.predict(xgboost.DMatrix(matrix, missing=np.nan)))
    # One row at a time (the HTTP path) gives the same as the whole batch.
    assert np.array_equal(np.concatenate([ours.predict(matrix[i : i + 1]) for i in range(20)]), predicted[:20])

    contributions = ours.contributions(matrix[:50])
    assert np.array_equal(contributions, reference.predict(xgboost.DMatrix(matrix[:50]), pred_contribs=True))


def test_trees_split_infinity_as_the_largest_float32(model_file: Path) -> None:
    """Why the pipeline may clip a number past float32's range to its largest value: same scores."""
    reference = xgboost.Booster(model_file=str(model_file))
    largest = np.finfo(np.float32).max
    for column in range(reference.num_features()):
        for sign in (1, -1):
            infinite, clipped = _matrix(reference.num_features(), rows=50), _matrix(reference.num_features(), rows=50)
            infinite[:, column], clipped[:, column] = sign * np.inf, sign * largest
            assert np.array_equal(
                reference.inplace_predict(infinite, validate_features=False),
                reference.inplace_predict(clipped, validate_features=False),
            )


def test_the_output_survives_the_next_call() -> None:
    """XGBoost reuses its output buffer; what predict returned must not change after."""
    booster = Booster((SYNTHETIC_MODEL / "model.ubj").read_bytes())
    matrix = _matrix(booster.num_features, rows=10)
    first = booster.predict(matrix)
    kept = first.copy()
    booster.predict(matrix[::-1].copy())
    booster.contributions(matrix)
    assert np.array_equal(first, kept)


def test_empty_input_and_wrong_shapes() -> None:
    booster = Booster((SYNTHETIC_MODEL / "model.ubj").read_bytes())
    assert booster.predict(np.empty((0, booster.num_features))).shape == (0,)
    assert booster.contributions(np.empty((0, booster.num_features))).shape == (0, booster.num_features + 1)
    with pytest.raises(ValueError, match=f"expected a \\(rows, {booster.num_features}\\) matrix"):
        booster.predict(np.zeros((2, booster.num_features + 1)))
    # float64 and non-contiguous input are converted, not misread.
    matrix = _matrix(booster.num_features, rows=6)
    assert np.array_equal(booster.predict(matrix.astype(np.float64)[::2]), booster.predict(matrix[::2].copy()))


def test_a_corrupt_model_is_refused_with_xgboosts_message() -> None:
    with pytest.raises(BoosterError) as error:
        Booster(b"{not a model")
    assert str(error.value)
    truncated = (SYNTHETIC_MODEL / "model.ubj").read_bytes()[:1000]
    with pytest.raises(BoosterError):
        Booster(truncated)


def test_the_learner_config_names_the_objective() -> None:
    booster = Booster((SYNTHETIC_MODEL / "model.ubj").read_bytes())
    assert booster.config()["learner"]["objective"]["name"] == "binary:logistic"


def test_a_model_with_several_outputs_per_row_is_refused_not_truncated() -> None:
    rng = np.random.default_rng(3)
    features, labels = rng.normal(size=(60, 4)), rng.integers(0, 3, size=60)
    multiclass = xgboost.train(
        {"objective": "multi:softprob", "num_class": 3, "nthread": 1}, xgboost.DMatrix(features, labels), 2
    )
    booster = Booster(bytes(multiclass.save_raw("ubj")))
    with pytest.raises(BoosterError, match=r"output has shape \(5, 3\), expected \(5,\)"):
        booster.predict(features[:5])


@pytest.mark.parametrize(
    ("version", "supported"), [((2, 1, 0), True), ((3, 9, 9), True), ((2, 0, 3), False), ((4, 0, 0), False)]
)
def test_the_supported_xgboost_range(version: tuple[int, int, int], supported: bool) -> None:
    from lambda_function.core.booster import check_version

    if supported:
        check_version(version)
        return
    shown = ".".join(map(str, version))
    message = f"XGBoost {shown} is not supported: this binding was checked against 2.1 up to (not including) 4.0"
    with pytest.raises(BoosterError) as raised:
        check_version(version)
    assert str(raised.value) == message
