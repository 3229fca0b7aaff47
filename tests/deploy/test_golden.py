"""Golden customers: every model directory carries reference customers and their scores, and a
version that scores them differently is refused by name before anyone is scored by it."""

from __future__ import annotations

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
    assert "60 golden customers score as expected (to 1e-06)" in capsys.readouterr().out
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
    assert json.loads(response["body"])["golden_customers"] == 60
