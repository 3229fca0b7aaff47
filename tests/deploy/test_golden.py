"""Golden customers: every model directory carries reference customers and their scores, and a
version that scores them differently is refused by name before anyone is scored by it."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from helpers import BAD_CUSTOMER_PROBABILITY, GOOD_CUSTOMER_PROBABILITY, SYNTHETIC_MODEL

from amex_scoring.cli import main
from lambda_function.core.artifacts import load_artifacts, write_model_directory
from lambda_function.core.scoring import Model
from lambda_function.deploy.golden import TOLERANCE, check_golden


def test_the_synthetic_model_scores_its_golden_customers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify-model", str(SYNTHETIC_MODEL)]) == 0
    assert "65 golden customers score as expected (to 1e-06)" in capsys.readouterr().out
    golden = load_artifacts(SYNTHETIC_MODEL).golden
    statements = [s for c in golden["customers"] for s in c["statements"]]
    assert sum("D_63" not in s for s in statements) >= 3  # missing values
    assert sum("ZZ" in s.values() for s in statements) >= 1  # a category never learnt


def test_a_swapped_booster_with_fresh_checksums_is_caught_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the golden check can catch this: every checksum in the manifest is right."""
    import xgboost

    artifacts = load_artifacts(SYNTHETIC_MODEL)
    booster = xgboost.Booster(model_file=str(SYNTHETIC_MODEL / "model.ubj"))
    fewer_trees = bytes(booster[0 : booster.num_boosted_rounds() - 1].save_raw("ubj"))  # one tree less
    manifest = {k: v for k, v in artifacts.manifest.items() if k not in ("files", "format_version")}
    swapped = write_model_directory(
        tmp_path / "model", manifest, artifacts.preprocessing, fewer_trees, artifacts.reference, artifacts.golden
    )
    model = Model(str(swapped)).load()  # loads: the checksums match the new files
    check = check_golden(model)
    assert not check.ok and check.difference > TOLERANCE
    assert main(["verify-model", str(swapped)]) == 1
    error = capsys.readouterr().err
    assert f"golden customer {check.worst_customer}: expected {check.expected!r}, got {check.got!r}" in error


def test_a_model_without_golden_customers_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(SYNTHETIC_MODEL, tmp_path / "model")
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    artifacts = load_artifacts(SYNTHETIC_MODEL)
    header = {k: v for k, v in manifest.items() if k not in ("files", "format_version")}
    shutil.rmtree(tmp_path / "model")
    write_model_directory(
        tmp_path / "model", header, artifacts.preprocessing, artifacts.booster_bytes, artifacts.reference
    )
    assert main(["verify-model", str(tmp_path / "model")]) == 1
    assert "no golden customers (golden.json) to check" in capsys.readouterr().err


def test_the_imported_legacy_model_carries_the_users_examples_scored_by_the_pickles(legacy_model_dir: Path) -> None:
    model = Model(str(legacy_model_dir)).load()
    golden = model.artifacts.golden
    assert golden["source"] == "the user's pickles" and len(golden["customers"]) >= 52
    by_id = {c["customer_ID"]: c["probability"] for c in golden["customers"]}
    found = sorted(
        p
        for p in by_id.values()
        if abs(p - GOOD_CUSTOMER_PROBABILITY) < 1e-6 or abs(p - BAD_CUSTOMER_PROBABILITY) < 1e-6
    )
    assert len(found) == 2  # the two examples, with the scores the user knows
    assert check_golden(model).ok


def test_the_model_description_says_how_many_golden_customers_it_carries() -> None:
    from serving import api

    from amex_scoring.events import rest_api_v1
    from amex_scoring.invoke import LambdaContext

    response = api.handler(rest_api_v1("GET", "/v1/model"), LambdaContext("api", 30))
    assert json.loads(response["body"])["golden_customers"] == 65  # 60, and 5 that complete the coverage


def _rewritten(tmp_path: Path, preprocessing: dict | None = None, golden: dict | None = None) -> Path:
    """The synthetic model with one file changed and every checksum made right again."""
    artifacts = load_artifacts(SYNTHETIC_MODEL)
    manifest = {k: v for k, v in artifacts.manifest.items() if k not in ("files", "format_version")}
    return write_model_directory(
        tmp_path / "model",
        manifest,
        preprocessing or artifacts.preprocessing,
        artifacts.booster_bytes,
        artifacts.reference,
        golden or artifacts.golden,
    )


def test_preprocessing_edits_that_move_scores_are_caught_because_every_category_is_golden(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """#30: two categories' one-hot columns swapped, or a category renamed, with fresh checksums."""
    spec = load_artifacts(SYNTHETIC_MODEL).preprocessing
    columns = [list(column) for column in spec["columns"]]
    first, second = columns.index(["B_30", "0.0"]), columns.index(["B_30", "1.0"])
    columns[first], columns[second] = columns[second], columns[first]
    assert main(["verify-model", str(_rewritten(tmp_path / "swapped", {**spec, "columns": columns}))]) == 1
    assert "golden customer " in capsys.readouterr().err
    renamed = json.loads(json.dumps(spec).replace('"XZ"', '"XY"'))
    assert main(["verify-model", str(_rewritten(tmp_path / "renamed", renamed))]) == 1
    assert "do not exercise the whole model (D_63 = 'XY')" in capsys.readouterr().err  # no customer has it


def test_a_golden_file_with_an_expectation_that_is_not_a_probability_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    golden = load_artifacts(SYNTHETIC_MODEL).golden
    for wrong, folder in ((1.5, "above"), (-0.1, "below"), ("0.5", "text")):
        changed = json.loads(json.dumps(golden))
        changed["customers"][3]["probability"] = wrong
        assert main(["verify-model", str(_rewritten(tmp_path / folder, golden=changed))]) == 1
        assert f"expects {wrong!r}, not a probability from 0 to 1" in capsys.readouterr().err
    model_dir = _rewritten(tmp_path / "nan")  # NaN: JSON has none, but Python's reader takes it
    text = (model_dir / "golden.json").read_text().replace(str(golden["customers"][0]["probability"]), "NaN", 1)
    (model_dir / "golden.json").write_text(text)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    manifest["files"]["golden.json"] = hashlib.sha256(text.encode()).hexdigest()
    (model_dir / "manifest.json").write_text(json.dumps(manifest))
    assert main(["verify-model", str(model_dir)]) == 1
    assert "expects nan, not a probability from 0 to 1" in capsys.readouterr().err


def test_golden_customers_that_leave_a_category_or_an_imputation_unexercised_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    golden = load_artifacts(SYNTHETIC_MODEL).golden
    fewer = {**golden, "customers": [c for c in golden["customers"] if not c["customer_ID"].startswith("golden-")]}
    assert main(["verify-model", str(_rewritten(tmp_path, golden=fewer))]) == 1
    error = capsys.readouterr().err
    assert "the golden customers do not exercise the whole model (D_63 = 'XL'" in error
