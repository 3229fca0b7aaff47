"""Every event in events/, through the function the template gives it, as Lambda runs it.

Each function runs in its own process under AWS's runtime interface client (awslambdaric, what the
Python base image runs), behind AWS's Runtime Interface Emulator (the binary inside SAM CLI's
wheel, which `sam local` runs in its containers), from the image folder (the Dockerfile's steps
without Docker: amex_scoring/image.py), with the template's handler, timeout, memory and
environment. The events go in as bytes on the Invoke API's path; what comes back is what the
runtime client serialised, its context (request id, deadline) is the runtime's. What stands in:
the image folder for the image (the image's Python and locked packages, on this machine's Linux),
moto's server for S3, and the router of tests/lambda_service.py for Lambda's Invoke front end
where one function calls another (the deploy hook).
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from helpers import EVENTS, get, keys_in, parquet_bytes, remove_bucket, slow_s3, upload, upload_model_as
from lambda_service import LambdaService, lambda_service
from runtimes import Runtimes

from amex_scoring.events import BUCKET, DATASET, DATASET_FILE, JOB_FILE, JOB_OUTPUT, LABELS_KEY, s3_put
from amex_scoring.invoke import LambdaContext
from amex_scoring.lambda_runtime import template_functions
from lambda_function.s3 import s3_client


def event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


def s3_key(name: str) -> str:
    """The object key an S3 event names (S3 sends it form-encoded)."""
    return unquote_plus(event(name)["Records"][0]["s3"]["object"]["key"])


@pytest.fixture(scope="module")
def events_bucket(s3_endpoint: str) -> Iterator[str]:
    """The bucket the events name, on moto's server; removed after the module."""
    s3_client().create_bucket(Bucket=BUCKET)
    yield BUCKET
    remove_bucket(BUCKET)


@pytest.fixture(scope="module")
def api(runtimes: Runtimes) -> Any:
    return runtimes.start("ScoreApiFunction")


@pytest.fixture(scope="module")
def batch(runtimes: Runtimes) -> Any:
    return runtimes.start("ScoreFileFunction")


API_EVENTS = sorted(path.name for path in EVENTS.glob("api-*.json"))


@pytest.mark.parametrize("name", API_EVENTS)
def test_every_http_event_gets_the_answer_the_handler_gives(api: Any, name: str) -> None:
    """Status, headers and body as the handler answers in this process (another Python and
    XGBoost build: the same scores); the request id is the runtime's."""
    from serving import api as in_process

    invocation = api.invoke((EVENTS / name).read_bytes())
    assert invocation.error is None, invocation.error
    answer = invocation.json()
    assert answer["statusCode"] == (422 if name == "api-invalid.json" else 200), answer["body"][:500]
    assert answer["headers"]["x-request-id"] == invocation.report["RequestId"]  # the runtime's context
    expected = in_process.handler(event(name), LambdaContext("api", 29))
    if answer["headers"]["content-type"].startswith("application/json"):
        ours, theirs = json.loads(expected["body"]), json.loads(answer["body"])
        for prediction in ours.get("predictions", []):  # SHAP sums may differ in the 7th digit
            for reason in prediction.get("reasons", []):
                reason["contribution"] = pytest.approx(reason["contribution"], abs=2e-6)
        assert _without(theirs, "request_id", "xgboost") == _without(ours, "request_id", "xgboost")
    else:
        assert answer["body"] == expected["body"]


def _without(document: Any, *names: str) -> Any:
    """The document less these keys, at any depth (the request id, the XGBoost build's version)."""
    if isinstance(document, dict):
        return {key: _without(value, *names) for key, value in document.items() if key not in names}
    if isinstance(document, list):
        return [_without(value, *names) for value in document]
    return document


def test_the_first_invocation_is_a_cold_start_and_the_next_is_not(runtimes: Runtimes) -> None:
    api = runtimes.start("ScoreApiFunction")
    first, second = (api.invoke(event("api-health.json")) for _ in range(2))
    assert "Init" in first.report and "Init" not in second.report
    assert first.milliseconds("Init") > 0 and second.milliseconds("Duration") > 0
    assert '"ColdStart"' in api.log()  # the EMF metric, once


def test_the_s3_events_score_their_files(batch: Any, events_bucket: str, statements_file: Path, tmp_path: Path) -> None:
    upload(events_bucket, s3_key("s3-put.json"), statements_file)
    text = io.BytesIO()
    pacsv.write_csv(pq.read_table(statements_file), text)
    upload(events_bucket, s3_key("s3-put-csv.json"), gzip.compress(text.getvalue()))
    for name in ("s3-put.json", "s3-put-csv.json"):
        [result] = batch.invoke(event(name)).json()["results"]
        assert result["status"] == "scored" and result["customers"] == 300, (name, result)
        assert f"scored/{s3_key(name).removeprefix('incoming/')}.summary.json" in keys_in(events_bucket)
    [ignored] = batch.invoke(event("s3-output-ignored.json")).json()["results"]
    assert ignored["status"] == "skipped"


def test_a_file_that_cannot_finish_in_time_reports_it_before_the_runtime_stops(
    runtimes: Runtimes, s3_endpoint: str, bucket: str, statements_file: Path
) -> None:
    """Every read takes a quarter of a second, and the file has 20-odd row groups: the function,
    given 6 s and told to stop with 4.5 s left, writes its timeout report and answers, where the
    runtime would otherwise stop it at 6 s."""
    key = "incoming/slow.parquet"
    table = pq.read_table(statements_file)
    upload(bucket, key, parquet_bytes(table, row_group_size=table.num_rows // 20))
    with slow_s3(s3_endpoint, 0.25) as slow:
        batch = runtimes.start("ScoreFileFunction", timeout=6, MIN_REMAINING_MS="4500", AWS_ENDPOINT_URL_S3=slow)
        invocation = batch.invoke(s3_put(key, bucket=bucket))
    assert invocation.error is None and invocation.milliseconds("Duration") < 6000
    [result] = invocation.json()["results"]
    assert result["status"] == "error" and result["error"] == "timeout"
    logged = [json.loads(line) for line in batch.log().splitlines() if '"error report written"' in line]
    assert logged[-1]["function_name"] == "ScoreFileFunction"  # the runtime's context, as powertools reads it
    assert logged[-1]["function_request_id"] == invocation.report["RequestId"]
    report = json.loads(get(bucket, "errors/slow.parquet.error.json"))
    assert report["error"] == "timeout" and "with less than 4500 ms left; nothing was written" in report["message"]
    assert not any(k.startswith("scored/") for k in keys_in(bucket))


def test_the_runtimes_are_configured_as_the_template_says() -> None:
    """Handler, timeout (the runtime's deadline: AWS_LAMBDA_FUNCTION_TIMEOUT) and memory, parameters
    at their defaults; an overridden parameter reaches them as CloudFormation would pass it."""
    specs = template_functions()
    assert (specs["ScoreApiFunction"].timeout, specs["ScoreApiFunction"].memory) == (29, 1024)
    assert (specs["ScoreFileFunction"].timeout, specs["ScoreFileFunction"].memory) == (900, 4096)
    assert specs["ScoreFileFunction"].handler == "lambda_function.handlers.batch.handler"
    assert specs["ScoreFileFunction"].environment["INPUT_PREFIX"] == "incoming/"
    assert set(specs["PreTrafficHookFunction"].unresolved) == {
        "API_FUNCTION_VERSION",
        "BATCH_FUNCTION_VERSION",
        "DATA_BUCKET",
    }
    changed = template_functions({"BatchTimeout": "120", "DecisionThreshold": "0.3"})
    assert (
        changed["ScoreFileFunction"].timeout == 120
        and changed["ScoreApiFunction"].environment["DECISION_THRESHOLD"] == "0.3"
    )


def test_an_unhandled_exception_comes_back_in_lambdas_error_shape(runtimes: Runtimes) -> None:
    invocation = runtimes.start("PlanDatasetFunction").invoke({"output": "s3://bucket/scored/x/"})
    error = invocation.error
    assert error is not None and error["errorType"] == "JobError"
    assert error["errorMessage"].startswith('a job is {"input"')
    assert error["requestId"] == invocation.report["RequestId"] and isinstance(error["stackTrace"], list)


def test_the_dataset_job_events_run_the_job_they_describe(runtimes: Runtimes, events_bucket: str) -> None:
    """events/data's file at the key the events name: the plan step writes exactly the shard the
    shard event carries, and returns exactly what the reduce event carries (but the Map's result)."""
    upload(events_bucket, DATASET + DATASET_FILE, EVENTS / "data" / DATASET_FILE)
    upload(events_bucket, JOB_FILE, EVENTS / "data" / "2026-11.json")
    plan = runtimes.start("PlanDatasetFunction")
    from_job_file = plan.invoke(event("dataset-job-file.json")).json()
    planned = plan.invoke(event("dataset-plan.json")).json()
    reduce_event = event("dataset-reduce.json")
    assert planned == from_job_file == {k: v for k, v in reduce_event.items() if k != "map"}
    shards = json.loads(get(events_bucket, JOB_OUTPUT + "_work/shards.json"))
    assert shards == [event("dataset-shard.json")["shard"]]
    shard = runtimes.start("ScoreShardFunction").invoke(event("dataset-shard.json")).json()
    assert shard == {"shard": 0, "status": "scored", "customers": 3}
    reduced = runtimes.start("ReduceDatasetFunction").invoke(reduce_event).json()
    assert reduced["status"] == "succeeded" and reduced["customers_scored"] == 3
    assert JOB_OUTPUT + "_SUCCESS" in keys_in(events_bucket)


def test_the_deploy_hook_event_checks_the_new_versions_and_reports(
    runtimes: Runtimes, s3_endpoint: str, events_bucket: str
) -> None:
    service = LambdaService(
        {"api:2": runtimes.start("ScoreApiFunction"), "batch:2": runtimes.start("ScoreFileFunction")}
    )
    with lambda_service(service, s3_endpoint) as port:
        endpoint = f"http://127.0.0.1:{port}"
        hook = runtimes.start(
            "PreTrafficHookFunction",
            API_FUNCTION_VERSION="api:2",
            BATCH_FUNCTION_VERSION="batch:2",
            DATA_BUCKET=events_bucket,
            AWS_ENDPOINT_URL_LAMBDA=endpoint,
            AWS_ENDPOINT_URL_CODEDEPLOY=endpoint,
        )
        result = hook.invoke(event("deploy-hook.json")).json()
    assert result == {"status": "Succeeded", "problem": None}
    [reported] = service.codedeploy
    hook_event = event("deploy-hook.json")
    assert reported["deploymentId"] == hook_event["DeploymentId"] and reported["status"] == "Succeeded"
    assert reported["lifecycleEventHookExecutionId"] == hook_event["LifecycleEventHookExecutionId"]


def test_model_uri_reaches_every_function_as_cloudformation_sets_it(
    runtimes: Runtimes, bucket: str, tmp_path: Path
) -> None:
    """`ModelUri` is the only setting a user gives to try their own model: every function gets it,
    and the HTTP function serves that model, not the image's."""
    uri = upload_model_as(bucket, "models/v9/", "9.9.9-from-s3", tmp_path / "model")
    assert {spec.environment["MODEL_URI"] for spec in template_functions({"ModelUri": uri}).values()} == {uri}
    assert {spec.environment["MODEL_URI"] for spec in template_functions().values()} == {""}  # the image's
    api = runtimes.start("ScoreApiFunction", parameters={"ModelUri": uri})
    described = json.loads(api.invoke(event("api-model.json")).json()["body"])
    assert described["version"] == "9.9.9-from-s3"


def test_a_function_that_could_not_answer_anything_fails_its_start_with_the_reason(
    runtimes: Runtimes, tmp_path: Path
) -> None:
    """A bad setting or a model that will not load stops the handler's import: AWS's runtime
    client posts that as the environment's init error and the emulator answers the invocation
    with it (Lambda does the same, and starts a fresh environment for the next one); the
    function's log carries the one-line reason. Nothing answers 503 forever."""
    from helpers import SYNTHETIC_MODEL

    tampered = tmp_path / "tampered"
    shutil.copytree(SYNTHETIC_MODEL, tampered)
    (tampered / "preprocessing.json").write_text((tampered / "preprocessing.json").read_text().replace("1.0", "2.0", 1))
    for function, environment, reason in [
        ("ScoreApiFunction", {"DECISION_THRESHOLD": "abc"}, "environment variable DECISION_THRESHOLD must be a number"),
        ("ScoreFileFunction", {"MAX_BATCH": "0"}, "environment variable MAX_BATCH must be at least 1, got '0'"),
        ("ScoreShardFunction", {"MODEL_URI": str(tampered)}, "checksum mismatch for " + str(tampered)),
    ]:
        started = runtimes.start(function, **environment)
        invocation = started.invoke(event("api-health.json"))
        error = invocation.error
        assert error is not None and error["errorType"] == "StartupError", (function, invocation.payload[:300])
        assert reason in error["errorMessage"], error["errorMessage"]
        assert reason in started.log()


def test_the_api_functions_capture_goes_out_through_its_extension_within_each_invocation(
    runtimes: Runtimes, tmp_path: Path
) -> None:
    """CAPTURE_URI set: the function registers its internal extension with the emulator's
    Extensions API, and each invocation's records are delivered before the invocation ends."""
    api = runtimes.start("ScoreApiFunction", CAPTURE_URI=str(tmp_path))
    delivered: list[tuple[str, float]] = []
    for _ in range(2):
        answer = api.invoke(event("api-predict-batch.json")).json()
        predictions = json.loads(answer["body"])["predictions"]
        delivered += [(p["customer_ID"], p["probability"]) for p in predictions]
        found = [row for path in tmp_path.rglob("*.parquet") for row in pq.read_table(path).to_pylist()]
        assert sorted((r["customer_ID"], r["probability"]) for r in found) == sorted(delivered)
    assert "capture-delivery" in api.log() and "capture undelivered" not in api.log()


def test_the_monitor_events_write_the_days_report_and_the_outcomes_report(
    runtimes: Runtimes, events_bucket: str
) -> None:
    """The API function captures into the bucket; the monitor function, on the schedule's event
    (with a date) and on S3's "Object Created" for the labels file, reports on those decisions."""
    captures, monitoring = f"s3://{events_bucket}/captures/", f"s3://{events_bucket}/monitoring/"
    api = runtimes.start("ScoreApiFunction", CAPTURE_URI=captures)
    predictions = json.loads(api.invoke(event("api-predict-batch.json")).json()["body"])["predictions"]
    upload(events_bucket, LABELS_KEY, EVENTS / "data" / "labels-2026-11.csv")
    monitor = runtimes.start("MonitorFunction", CAPTURE_URI=captures, MONITORING_URI=monitoring)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    daily = monitor.invoke({**event("monitor-daily.json"), "date": today}).json()
    assert daily["decisions"] == len(predictions) and daily["report"].endswith(f"date={today}/report.json")
    outcomes = monitor.invoke(event("monitor-labels.json")).json()
    report = json.loads(get(events_bucket, "monitoring/outcomes/2026-11.csv/report.json"))
    assert outcomes["report"].endswith("outcomes/2026-11.csv/report.json")
    assert report["outcomes"]["customers_joined"] == len(predictions) and "auc" in report["outcomes"]["metrics"]
