"""The monitor job on captures: a drift injected into one input is named, with the PSI the batch
summary computes for the same customers, whether the captures came from files (bin counts in the
footer) or from HTTP (the inputs' maps); outcomes joined to a labels file match scikit-learn; the
scheduled handler writes its day's report to S3 (moto's server, over HTTP, through boto3); the
report renders in a real browser."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from browser import count, screenshot
from helpers import get, invoke_with, keys_in, upload
from serving import LOADED, http_handler
from sklearn.metrics import roc_auc_score

from amex_scoring.cli import main
from amex_scoring.events import http_api_v2
from amex_scoring.invoke import LambdaContext
from amex_scoring.synth import write_synthetic
from lambda_function.core.scoring import Loaded
from lambda_function.monitoring.html import BLUE, ORANGE
from lambda_function.monitoring.job import monitor_handler
from lambda_function.settings import Settings

MODEL = LOADED.model
DRIFTED = "D_75"


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """1,500 customers whose DRIFTED input is tripled and shifted, and their labels."""
    folder = tmp_path_factory.mktemp("book")
    plain, labels, drifted = folder / "s.parquet", folder / "labels.csv", folder / "drifted.parquet"
    write_synthetic(plain, 1500, statements=3, seed=31, labels_out=labels)
    table = pq.read_table(plain)
    index = table.schema.get_field_index(DRIFTED)
    pq.write_table(table.set_column(index, DRIFTED, pc.add(pc.multiply(table[DRIFTED], 3.0), 0.5)), drifted)
    return {"statements": drifted, "labels": labels, "folder": folder}


def monitor(captures: Path, out: Path, *extra: str) -> dict[str, Any]:
    argv = ["monitor", "--model", str(MODEL.uri), "--captures", str(captures), "--out", str(out), *extra]
    assert main(argv) == 0
    return dict(json.loads((out / "report.json").read_text()))


def http_customers(statements: Path) -> list[dict[str, Any]]:
    """Every statement, with the fields the model reads (a whole file's would pass the body limit)."""
    rows = pq.read_table(statements, columns=["customer_ID", "S_2", *MODEL.inputs]).to_pylist()
    return [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()} for row in rows]


def test_an_injected_drift_is_named_alike_from_file_and_http_captures(
    book: dict[str, Path], tmp_path: Path, bucket: str
) -> None:
    upload(bucket, "incoming/drifted.parquet", book["statements"])
    result, _ = invoke_with(
        Loaded(Settings(capture_uri=str(tmp_path / "files")), MODEL), bucket, "incoming/drifted.parquet"
    )
    summary = json.loads(get(bucket, "scored/drifted.parquet.summary.json"))
    from_files = monitor(tmp_path / "files", tmp_path / "report-files")

    handler = http_handler(MODEL, Settings(capture_uri=str(tmp_path / "http")))
    customers = http_customers(book["statements"])
    ids = list(dict.fromkeys(c["customer_ID"] for c in customers))
    for start in range(0, len(ids), 300):  # whole customers, at most MAX_BATCH statements a request
        wanted = set(ids[start : start + 300])
        body = {"customers": [c for c in customers if c["customer_ID"] in wanted]}
        answer = handler.handler(http_api_v2("POST", "/v1/predict", body), LambdaContext("api", 30))
        assert answer["statusCode"] == 200, answer["body"]
    assert handler.capture is not None
    handler.capture.flush()
    from_http = monitor(tmp_path / "http", tmp_path / "report-http")

    for report in (from_files, from_http):
        assert report["decisions"] == summary["customers_scored"] == 1500
        assert report["drift"]["drifted"][0] == DRIFTED, report["drift"]["drifted"]
        assert report["drift"]["records_with_inputs"] == 1500
        for name, entry in summary["drift"]["psi"].items():  # the batch summary's own PSI, another path
            assert report["drift"]["psi"][name]["psi"] == pytest.approx(entry["psi"], abs=1e-6), name
        assert report["decision_rate"] == pytest.approx(summary["share_default"], abs=1e-6)
        assert report["missing"]["B_7"]["training"] is not None  # train records training's missing rates
    assert from_files["score_quantiles"] == from_http["score_quantiles"]


def test_outcomes_joined_to_labels_match_scikit_learn(book: dict[str, Path], tmp_path: Path) -> None:
    predictions = tmp_path / "p.parquet"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAPTURE_URI", str(tmp_path / "captures"))
        assert main(["score", "--model", str(MODEL.uri), str(book["statements"]), str(predictions)]) == 0
    report = monitor(tmp_path / "captures", tmp_path / "out", "--labels", str(book["labels"]), "--max-drop", "0")
    labels = pd.read_csv(book["labels"])
    joined = pd.read_parquet(predictions).merge(labels, on="customer_ID")
    outcomes = report["outcomes"]
    assert outcomes["customers_joined"] == len(joined) == 1500
    assert outcomes["metrics"]["auc"] == pytest.approx(roc_auc_score(joined["target"], joined["prediction"]), abs=1e-12)
    assert outcomes["training"]["auc"] == MODEL.manifest["metrics"]["auc"]
    assert set(outcomes["flagged"]) == {m for m, v in outcomes["training"].items() if outcomes["metrics"][m] < v}


def test_the_scheduled_handler_writes_the_days_report_to_s3(book: dict[str, Path], bucket: str) -> None:
    captures, monitoring = f"s3://{bucket}/captures/", f"s3://{bucket}/monitoring/"
    upload(bucket, "incoming/drifted.parquet", book["statements"])
    invoke_with(Loaded(Settings(capture_uri=captures), MODEL), bucket, "incoming/drifted.parquet")
    today = dt.datetime.now(dt.UTC).date().isoformat()
    handler = monitor_handler(Loaded(Settings(capture_uri=captures, monitoring_uri=monitoring), MODEL))
    result = handler({"date": today}, LambdaContext("monitor", 900))
    assert result["decisions"] == 1500 and result["drifted"][0] == DRIFTED
    assert f"monitoring/reports/date={today}/report.json" in keys_in(bucket)
    report = get(bucket, f"monitoring/reports/date={today}/report.json").decode()
    assert report.count("\n") == 1 and json.loads(report)["decisions"] == 1500  # one line: one Athena row
    assert handler({"date": "2001-01-01"}, LambdaContext("monitor", 900))["decisions"] == 0


def test_the_report_renders_its_plots_in_a_real_browser(book: dict[str, Path], tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAPTURE_URI", str(tmp_path / "captures"))
        assert main(["score", "--model", str(MODEL.uri), str(book["statements"]), str(tmp_path / "p.parquet")]) == 0
    monitor(tmp_path / "captures", tmp_path / "out", "--labels", str(book["labels"]))
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.count("<svg") == 4 and DRIFTED in page
    pixels = screenshot(tmp_path / "out" / "report.html", tmp_path, (1200, 2400))
    assert count(pixels, BLUE) > 5000, "the bars and the calibration dots did not render"
    assert count(pixels, ORANGE) > 500, "training's bars and the drift threshold did not render"
    assert np.any(pixels != 255)


def test_a_reference_made_from_statements_records_the_missing_rates_the_monitor_counts(
    book: dict[str, Path], tmp_path: Path
) -> None:
    """`amex-scoring reference` (and import-legacy --reference-data) counts training's missing
    rates as the monitor counts a window's: on the same statements, the two agree."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(MODEL.uri, model)
    assert main(["reference", "--model", str(model), "--data", str(book["statements"])]) == 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAPTURE_URI", str(tmp_path / "captures"))
        assert main(["score", "--model", str(model), str(book["statements"]), str(tmp_path / "p.parquet")]) == 0
    argv = ["monitor", "--model", str(model), "--captures", str(tmp_path / "captures"), "--out", str(tmp_path / "o")]
    assert main(argv) == 0
    missing = json.loads((tmp_path / "o" / "report.json").read_text())["missing"]
    assert any(entry["rate"] > 0 for entry in missing.values())
    for name, entry in missing.items():
        assert entry["rate"] == pytest.approx(entry["training"], abs=1e-6), name
    assert json.loads((tmp_path / "o" / "report.json").read_text())["drift"]["max_psi"] < 1e-6  # its own population
