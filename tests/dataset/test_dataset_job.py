"""The dataset job: statemachine/score_dataset.asl.json, as the template deploys it, executed by
moto's Step Functions interpreter against moto's S3 over HTTP, its Lambda tasks reaching the three
task functions, each running under AWS's runtime interface client behind AWS's Runtime Interface
Emulator, from the image folder (tests/lambda_service.py says how, and why that is faithful)."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import get, keys_in, upload
from lambda_service import LambdaService, ServiceError
from runtimes import Runtimes
from step_functions import StepFunctions, score_dataset

from amex_scoring.synth import write_synthetic
from lambda_function.core.drift import psi, psi_from_counts
from lambda_function.core.scoring import Model
from lambda_function.core.summaries import QUANTILE_PRECISION, QUANTILES
from lambda_function.files.file_scoring import ScoredFile, score_statements
from lambda_function.files.statements import local_opener

SHARD_ROWS = 4_000


@pytest.fixture(scope="module")
def step_functions(s3_endpoint: str, runtimes: Runtimes) -> Iterator[StepFunctions]:
    """Each task a runtime of the template's function for it (plan told SHARD_ROWS)."""
    tasks = {"plan": "PlanDatasetFunction", "shard": "ScoreShardFunction", "reduce": "ReduceDatasetFunction"}
    service = LambdaService({task: runtimes.start(name, SHARD_ROWS=str(SHARD_ROWS)) for task, name in tasks.items()})
    with score_dataset(service, s3_endpoint) as found:
        yield found


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 files: 7 small, one of 1,500 customers in row groups of 997 rows, cut into 5 shards."""
    folder = tmp_path_factory.mktemp("dataset")
    for index in range(7):
        write_synthetic(folder / f"part-{index}.parquet", 150 + 10 * index, seed=100 + index)
    big = folder / "big.parquet"
    write_synthetic(big, 1_500, seed=99)
    pq.write_table(pq.read_table(big), big, row_group_size=997)  # customers straddle the groups' edges
    return folder


def upload_folder(bucket: str, folder: Path, prefix: str) -> None:
    for path in sorted(folder.iterdir()):
        upload(bucket, prefix + path.name, path)


def one_pass(model: Model, folder: Path) -> dict[str, ScoredFile]:
    """Each file through the batch function's path, on its own."""
    return {
        path.name: score_statements(model, local_opener(path), "parquet") for path in sorted(folder.glob("*.parquet"))
    }


def parts_of(bucket: str, prefix: str) -> pa.Table:
    names = [key for key in keys_in(bucket) if key.startswith(prefix + "part-")]
    return pa.concat_tables([pq.read_table(io.BytesIO(get(bucket, key))) for key in names])


def test_a_dataset_is_scored_once_per_customer_exactly_as_file_by_file(
    step_functions: StepFunctions, bucket: str, dataset: Path, synthetic_model: Model
) -> None:
    upload_folder(bucket, dataset, "datasets/book/")
    out = f"s3://{bucket}/scored/book/"
    execution = step_functions.run({"input": f"s3://{bucket}/datasets/book/", "output": out})
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    shards = json.loads(get(bucket, "scored/book/_work/shards.json"))
    big = [s for s in shards if s["file"]["uri"].endswith("big.parquet")]
    assert len(shards) == 12 and len(big) == 5 and all(s["row_groups"] for s in big)

    single = one_pass(synthetic_model, dataset)
    expected = {
        c: p
        for s in single.values()
        for c, p in zip(*(s.predictions[k].to_pylist() for k in ("customer_ID", "prediction")), strict=True)
    }
    parts = parts_of(bucket, "scored/book/")
    ids = parts["customer_ID"].to_pylist()
    assert len(ids) == len(set(ids)) == len(expected)  # each customer once
    assert dict(zip(ids, parts["prediction"].to_pylist(), strict=True)) == expected  # bit for bit

    summary = json.loads(get(bucket, "scored/book/_SUMMARY.json"))
    assert summary["status"] == "succeeded" and "problems" not in summary
    assert summary["rows_read"] == sum(s.rows_read for s in single.values())
    assert summary["customers_scored"] == len(expected) == sum(s.customers for s in single.values())
    assert summary["statements_superseded"] == summary["rows_read"] - summary["customers"]
    scores = np.concatenate([s.drift_inputs["score"] for s in single.values()])
    reference = synthetic_model.artifacts.reference
    assert summary["share_default"] == round(float(np.mean(scores >= synthetic_model.threshold)), 6)
    for q in QUANTILES:  # the score at rank floor(q (n - 1)), to half a bin
        at_rank = np.sort(scores)[int(np.floor(q * (scores.size - 1)))]
        assert abs(summary["score_quantiles"][f"p{round(q * 100):02d}"] - at_rank) <= QUANTILE_PRECISION + 1e-12
    merged = np.sum(
        [
            json.loads(get(bucket, f"scored/book/_work/shards/{s['index']:05d}.json"))["drift_counts"]["score"]
            for s in shards
        ],
        axis=0,
    )
    assert abs(psi_from_counts(reference["score"], merged) - psi(reference["score"], scores)) <= 1e-9
    for name, entry in summary["drift"]["psi"].items():
        bins = reference["score"] if name == "score" else reference["inputs"][name]
        values = scores if name == "score" else np.concatenate([s.drift_inputs[name] for s in single.values()])
        assert entry["psi"] == round(psi(bins, values), 6), name

    manifest = json.loads(get(bucket, "scored/book/_SUCCESS"))
    assert [p["name"] for p in manifest["parts"]] == [f"part-{i:05d}.parquet" for i in range(12)]
    for part in manifest["parts"]:
        assert hashlib.sha256(get(bucket, f"scored/book/{part['name']}")).hexdigest() == part["sha256"]


def test_a_rerun_of_a_finished_job_writes_the_same_bytes(
    step_functions: StepFunctions, bucket: str, dataset: Path
) -> None:
    upload_folder(bucket, dataset, "datasets/again/")
    job = {"input": f"s3://{bucket}/datasets/again/", "output": f"s3://{bucket}/scored/again/"}
    outputs = []
    for _ in range(2):
        assert step_functions.run(job)["status"] == "SUCCEEDED"
        keys = [k for k in keys_in(bucket) if k.startswith("scored/again/")]
        outputs.append({key: get(bucket, key) for key in keys})
    assert outputs[0] == outputs[1] and "scored/again/_SUCCESS" in outputs[0]


def test_a_shard_refused_twice_by_lambda_is_retried_and_the_job_succeeds(
    step_functions: StepFunctions, bucket: str, dataset: Path
) -> None:
    upload_folder(bucket, dataset, "datasets/retried/")
    refused = []

    def twice(event: dict[str, Any]) -> None:
        if event["shard"]["index"] == 2 and len(refused) < 2:
            refused.append(event)
            raise ServiceError(429, "TooManyRequestsException")

    with mock.patch.dict(step_functions.service.faults, {"shard": twice}):
        execution = step_functions.run(
            {"input": f"s3://{bucket}/datasets/retried/", "output": f"s3://{bucket}/scored/retried/"}
        )
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert len(refused) == 2 and "scored/retried/_SUCCESS" in keys_in(bucket)


def test_a_shard_that_always_fails_fails_the_job_and_is_named(
    step_functions: StepFunctions, bucket: str, dataset: Path
) -> None:
    upload_folder(bucket, dataset, "datasets/broken/")

    def always(event: dict[str, Any]) -> None:  # as a shard out of memory, or a bug, would
        if event["shard"]["index"] == 3:
            raise MemoryError("emulated: the shard ran out of memory")

    with mock.patch.dict(step_functions.service.faults, {"shard": always}):
        execution = step_functions.run(
            {"input": f"s3://{bucket}/datasets/broken/", "output": f"s3://{bucket}/scored/broken/"}
        )
    assert execution["status"] == "FAILED" and execution["error"] == "JobFailed"
    # On AWS the Map fails first (ToleratedFailurePercentage 0) and the Catch hands its error to the
    # reduce step; moto's interpreter ignores the tolerance and ends the Map. Either way the reduce
    # step finds the shard without a summary, names it, and fails the job.
    assert "1 shards did not finish: 3 (s3://" in execution["cause"]
    keys = keys_in(bucket)
    assert "scored/broken/_SUCCESS" not in keys and "scored/broken/_SUMMARY.json" in keys
    summary = json.loads(get(bucket, "scored/broken/_SUMMARY.json"))
    assert summary["status"] == "failed" and summary["problems"]["shards_not_finished"]["first"][0]["shard"] == 3


def test_an_ungrouped_large_file_and_a_corrupt_file_are_reported_and_the_rest_scored(
    step_functions: StepFunctions, bucket: str, dataset: Path, tmp_path: Path
) -> None:
    upload_folder(bucket, dataset, "datasets/mixed/")
    shuffled = pq.read_table(dataset / "big.parquet")
    shuffled = shuffled.take(np.random.default_rng(1).permutation(shuffled.num_rows))
    pq.write_table(shuffled, tmp_path / "shuffled.parquet", row_group_size=997)
    upload(bucket, "datasets/mixed/shuffled.parquet", tmp_path / "shuffled.parquet")
    upload(bucket, "datasets/mixed/corrupt.parquet", b"PAR1 this is not a parquet file PAR1")
    execution = step_functions.run(
        {"input": f"s3://{bucket}/datasets/mixed/", "output": f"s3://{bucket}/scored/mixed/"}
    )
    assert execution["status"] == "FAILED" and execution["error"] == "JobFailed"
    summary = json.loads(get(bucket, "scored/mixed/_SUMMARY.json"))
    not_scored = summary["problems"]["files_not_scored"]
    assert set(not_scored) == {
        f"s3://{bucket}/datasets/mixed/shuffled.parquet",
        f"s3://{bucket}/datasets/mixed/corrupt.parquet",
    }
    assert "not grouped by customer_ID" in not_scored[f"s3://{bucket}/datasets/mixed/shuffled.parquet"]
    assert "not a readable Parquet file" in not_scored[f"s3://{bucket}/datasets/mixed/corrupt.parquet"]
    shards = json.loads(get(bucket, "scored/mixed/_work/shards.json"))
    bad = {s["index"] for s in shards if s["file"]["uri"].endswith(("shuffled.parquet", "corrupt.parquet"))}
    keys = keys_in(bucket)
    assert not any(f"scored/mixed/part-{i:05d}.parquet" in keys for i in bad)  # nothing of them, not even parts
    assert sum(f"scored/mixed/part-{s['index']:05d}.parquet" in keys for s in shards) == len(shards) - len(bad)
    assert summary["customers_scored"] == parts_of(bucket, "scored/mixed/").num_rows
    assert "scored/mixed/_SUCCESS" not in keys


def test_a_job_file_uploaded_under_jobs_starts_the_job(
    step_functions: StepFunctions, bucket: str, dataset: Path
) -> None:
    """The input the EventBridge rule hands the state machine: S3's Object Created event."""
    upload_folder(bucket, dataset, "datasets/monthly/")
    upload(bucket, "jobs/november.json", json.dumps({"input": f"s3://{bucket}/datasets/monthly/"}).encode())
    event = {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-12-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": "jobs/november.json", "size": 60, "etag": "b1946ac92492d2347c6235b4d2611184"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "reason": "PutObject",
        },
    }
    execution = step_functions.run(event)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert (
        json.loads(execution["output"])["output"] == f"s3://{bucket}/scored/november/"
    )  # OUTPUT_PREFIX + the job's name
    assert "scored/november/_SUCCESS" in keys_in(bucket)


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ({"input": "s3://{b}/datasets/x/", "output": "s3://{b}/datasets/x/scored/"}, "must not be inside the input"),
        ({"input": "s3://{b}/incoming/x/", "output": "s3://{b}/scored/x/"}, "under INPUT_PREFIX 'incoming/'"),
        ({"input": "s3://{b}/datasets/empty/", "output": "s3://{b}/scored/x/"}, "no .parquet, .csv or .csv.gz files"),
        ({"output": "s3://{b}/scored/x/"}, 'a job is {"input"'),
    ],
)
def test_a_job_that_cannot_run_fails_at_once_and_says_why(
    step_functions: StepFunctions, bucket: str, job: dict[str, str], message: str
) -> None:
    execution = step_functions.run({k: v.format(b=bucket) for k, v in job.items()})
    assert execution["status"] == "FAILED" and execution["error"] == "JobError"
    assert message in json.loads(execution["cause"])["errorMessage"]
    assert [name for name, _ in step_functions.service.calls[-1:]] == ["plan"]  # nothing scored


def test_the_local_mode_writes_what_the_state_machine_writes(
    step_functions: StepFunctions, bucket: str, dataset: Path, tmp_path: Path
) -> None:
    from amex_scoring.cli import main

    upload_folder(bucket, dataset, "datasets/local/")
    assert (
        step_functions.run({"input": f"s3://{bucket}/datasets/local/", "output": f"s3://{bucket}/scored/local/"})[
            "status"
        ]
        == "SUCCEEDED"
    )
    with mock.patch.dict(os.environ, {"SHARD_ROWS": str(SHARD_ROWS)}):
        assert main(["score-dataset", "--workers", "2", str(dataset), str(tmp_path / "out")]) == 0
    for name in [f"part-{i:05d}.parquet" for i in range(12)]:
        assert (tmp_path / "out" / name).read_bytes() == get(bucket, f"scored/local/{name}"), name
    local, remote = (
        json.loads(data)
        for data in ((tmp_path / "out" / "_SUCCESS").read_bytes(), get(bucket, "scored/local/_SUCCESS"))
    )
    assert local == {**remote, "output": str(tmp_path / "out")}  # the same manifest, but for where it is
