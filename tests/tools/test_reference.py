"""The drift reference of the user's own model: `import-legacy --reference-data`, `amex-scoring
reference`, and a model without one saying so on every surface (the import's last line,
`GET /v1/model`, the batch and dataset summaries, the metric `DriftUnmonitoredAlarm` watches)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from helpers import LEGACY_FILES, get, invoke_with, remove_bucket, upload
from serving import http_handler

from amex_scoring.cli import main
from amex_scoring.events import http_api_v2
from amex_scoring.invoke import LambdaContext
from amex_scoring.legacy import import_legacy
from amex_scoring.synth import write_synthetic
from lambda_function.core.artifacts import load_artifacts
from lambda_function.core.scoring import Loaded, Model
from lambda_function.settings import Settings

FLOOR = 1e-4  # the published PSI's guard against empty bins, as core/drift.py applies it


@pytest.fixture(scope="module")
def legacy_with_reference(legacy_dir: Path, statements_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("legacy-ref") / "model"
    files = [legacy_dir / LEGACY_FILES[k] for k in ("vectorizer", "imputer", "model")]
    import_legacy(*files, out, reference_data=statements_file)
    return out


def _psi(expected: list[float], actual_counts: np.ndarray) -> float:
    """PSI from its definition: sum over bins of (actual - expected) * ln(actual / expected)."""
    actual = np.maximum(actual_counts / actual_counts.sum(), FLOOR)
    reference = np.maximum(np.asarray(expected), FLOOR)
    return float(np.sum((actual - reference) * np.log(actual / reference)))


def _batch_summary(model_dir: Path, bucket: str, data: Path) -> tuple[dict[str, Any], str]:
    """The batch function for `model_dir`, on `data` uploaded to the moto bucket; (summary, EMF lines)."""
    upload(bucket, "incoming/file.parquet", data)
    result, printed = invoke_with(Loaded(Settings(), Model(str(model_dir)).load()), bucket, "incoming/file.parquet")
    assert result["status"] == "scored", result
    return json.loads(get(bucket, "scored/file.parquet.summary.json")), printed


def test_import_legacy_with_reference_data_writes_the_reference_train_writes(
    legacy_with_reference: Path, statements_file: Path
) -> None:
    artifacts = load_artifacts(legacy_with_reference)  # covered by the manifest's checksums
    assert artifacts.reference is not None and "reference.json" in artifacts.manifest["files"]
    assert artifacts.manifest["reference"]["customers"] == artifacts.reference["customers"] == 300
    assert artifacts.manifest["reference"]["data"] == statements_file.name
    assert set(artifacts.reference["inputs"]) == set(Model(str(legacy_with_reference)).load().inputs)
    assert artifacts.reference["score"]["kind"] == "numeric" and len(artifacts.reference["score"]["edges"]) == 9
    readme = (legacy_with_reference / "README.md").read_text()
    assert f"over 300 customers of `{statements_file.name}`" in readme and "amex-default-xgboost" in readme


def test_a_batch_summary_for_the_users_model_carries_psi_from_its_reference(
    legacy_with_reference: Path, bucket: str, tmp_path: Path
) -> None:
    drifted = tmp_path / "drifted.parquet"
    write_synthetic(drifted, 400, statements=3, seed=77)
    table = pq.read_table(drifted)
    moved = pc.add(pc.multiply(table["D_75"], 3.0), 0.5)  # a known drift, injected into one input
    pq.write_table(table.set_column(table.schema.get_field_index("D_75"), "D_75", moved), drifted)
    summary, printed = _batch_summary(legacy_with_reference, bucket, drifted)
    drift = summary["drift"]
    assert drift["status"] == "measured" and set(drift["psi"]) >= {"score", "D_75", "D_63"}
    reference = json.loads((legacy_with_reference / "reference.json").read_text())
    predictions = io.BytesIO(get(bucket, "scored/file.parquet.predictions.parquet"))
    scores = np.asarray(pq.read_table(predictions)["prediction"])
    counts = np.bincount(np.searchsorted(reference["score"]["edges"], scores, "right"), minlength=10)
    assert drift["psi"]["score"]["psi"] == pytest.approx(_psi(reference["score"]["expected"], counts), abs=1e-6)
    assert drift["max_psi"] == drift["psi"]["D_75"]["psi"] > 0.25 and drift["psi"]["D_75"]["drift"] is True
    assert '"MaxPSI"' in printed and '"DriftReferenceMissing"' not in printed
    remove_bucket(bucket)


def test_the_reference_population_itself_does_not_drift(
    legacy_with_reference: Path, statements_file: Path, bucket: str
) -> None:
    summary, _ = _batch_summary(legacy_with_reference, bucket, statements_file)
    assert all(entry["psi"] < 1e-6 for entry in summary["drift"]["psi"].values()), summary["drift"]
    remove_bucket(bucket)


def test_a_model_without_a_reference_says_so_everywhere(
    legacy_model_dir: Path, statements_file: Path, bucket: str, tmp_path: Path
) -> None:
    model = Model(str(legacy_model_dir)).load()
    assert model.artifacts is not None and model.artifacts.reference is None
    answer = http_handler(model, Settings())(http_api_v2("GET", "/v1/model"), LambdaContext("api", 30))
    described = json.loads(answer["body"])["drift_reference"]
    assert described["status"] == "no reference" and "amex-scoring reference" in described["message"]

    summary, printed = _batch_summary(legacy_model_dir, bucket, statements_file)
    assert summary["drift"]["status"] == "no reference"
    assert '"DriftReferenceMissing":[1.0]' in printed and '"MaxPSI"' not in printed
    remove_bucket(bucket)

    folder = tmp_path / "book"
    folder.mkdir()
    shutil.copy(statements_file, folder / "part.parquet")
    assert main(["score-dataset", "--model", str(legacy_model_dir), str(folder), str(tmp_path / "out")]) == 0
    assert json.loads((tmp_path / "out" / "_SUMMARY.json").read_text())["drift"]["status"] == "no reference"
    assert "Drift reference\n\n**None.**" in (legacy_model_dir / "README.md").read_text()


def test_import_legacy_says_on_its_last_line_whether_drift_will_be_measured(
    legacy_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [f"--{k}={legacy_dir / LEGACY_FILES[k]}" for k in ("vectorizer", "imputer", "model")]
    assert main(["import-legacy", *files, "--out", str(tmp_path / "m")]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("no drift reference:") and "--reference-data" in last
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["name"] == "amex-default-xgboost"  # the README's and events' name
    assert manifest["source_detail"]["command"].startswith("amex-scoring import-legacy --vectorizer=")


def test_amex_scoring_reference_adds_a_reference_to_an_existing_model(
    legacy_model_dir: Path, statements_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(legacy_model_dir, model_dir)
    before = load_artifacts(model_dir)
    assert main(["reference", "--model", str(model_dir), "--data", str(statements_file)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"drift reference: 300 customers of {statements_file.name}")
    after = load_artifacts(model_dir)  # verified: the manifest now covers reference.json
    assert after.reference is not None and after.booster_bytes == before.booster_bytes
    assert after.golden == before.golden and after.preprocessing == before.preprocessing
    assert main(["verify-model", str(model_dir)]) == 0
    assert "Drift reference\n\n`reference.json`" in (model_dir / "README.md").read_text()


def test_a_reference_needs_enough_customers_and_a_sound_model(
    legacy_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    few = tmp_path / "few.parquet"
    write_synthetic(few, 20, statements=2, seed=3)
    model_dir = tmp_path / "model"
    shutil.copytree(legacy_model_dir, model_dir)
    assert main(["reference", "--model", str(model_dir), "--data", str(few)]) == 1
    assert "20 customers could be scored; a drift reference needs at least 100" in capsys.readouterr().err
    (model_dir / "model.ubj").write_bytes(b"x" + (model_dir / "model.ubj").read_bytes()[1:])
    assert main(["reference", "--model", str(model_dir), "--data", str(few)]) == 1
    assert "checksum mismatch" in capsys.readouterr().err


def test_a_function_starting_with_a_model_without_a_reference_emits_the_metric_the_alarm_watches(
    legacy_model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every function, HTTP included, says so once per start: sent with its first invocation's metrics."""
    from lambda_function.core.scoring import load_for_handler
    from lambda_function.telemetry import metrics

    metrics.flush()
    capsys.readouterr()
    monkeypatch.setenv("MODEL_URI", str(legacy_model_dir))
    load_for_handler()
    metrics.flush()
    printed = capsys.readouterr().out
    assert "has no training reference (reference.json)" in printed  # the warning in the log
    assert '"DriftReferenceMissing":[1.0]' in printed  # the EMF line
