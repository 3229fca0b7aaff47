"""The dataset job's three Lambda handlers, the tasks of the ScoreDataset state machine
(statemachine/score_dataset.asl.json): plan, score a shard, reduce. Same image, same model,
same scoring functions as the two other handlers; the CLI's `score-dataset` calls the same
plan, shard and reduce functions on this machine.

A job is `{"input": "s3://bucket/prefix/", "output": "s3://bucket/scored/<job>/"}`
(optionally `"keys": [...]`, files relative to the input), given to StartExecution or
written as a job file under `jobs/`, whose EventBridge "Object Created" event starts it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from lambda_function.core.scoring import Loaded, Model
from lambda_function.dataset.plan import JobError, Shard, plan_dataset, shard_list_uri
from lambda_function.dataset.reduce import reduce_job
from lambda_function.dataset.shard import score_shard
from lambda_function.s3 import s3_client, split_s3_uri
from lambda_function.settings import Settings
from lambda_function.telemetry import logger, metrics


class ShardFailed(RuntimeError):
    """A shard could not be scored for a reason other than its input (S3, a changed file...)."""


@dataclass(frozen=True)
class JobRequest:
    input: str
    output: str
    keys: list[str] | None = None
    tolerated_failure_percentage: float | None = None

    @classmethod
    def parse(cls, body: Any, default_output: str | None = None) -> JobRequest:
        if not isinstance(body, dict) or not isinstance(body.get("input"), str):
            raise JobError('a job is {"input": "s3://bucket/prefix/", "output": "s3://bucket/scored/<job>/"}')
        output = body.get("output", default_output)
        if not isinstance(output, str):
            raise JobError('the job has no "output": where to write the scored dataset')
        keys = body.get("keys")
        if keys is not None and not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
            raise JobError('"keys" must be a list of file names')
        tolerance = body.get("tolerated_failure_percentage")
        if tolerance is not None and not (isinstance(tolerance, int | float) and 0 <= tolerance <= 100):
            raise JobError('"tolerated_failure_percentage" must be a number from 0 to 100')
        return cls(body["input"], output, keys, tolerance)


def job_request(event: dict[str, Any], settings: Settings) -> JobRequest:
    """From StartExecution's input, or from a job file's EventBridge Object Created event."""
    if event.get("detail-type") != "Object Created":
        return JobRequest.parse(event)
    bucket, key = event["detail"]["bucket"]["name"], event["detail"]["object"]["key"]
    try:
        body = json.loads(s3_client().get_object(Bucket=bucket, Key=key)["Body"].read())
    except ValueError as error:
        raise JobError(f"s3://{bucket}/{key} is not JSON: {error}") from None
    name = PurePosixPath(key).stem
    return JobRequest.parse(body, default_output=f"s3://{bucket}/{settings.output_prefix}{name}/")


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True)
class DatasetTasks:
    """The three tasks of a job for one loaded model and its settings."""

    loaded: Loaded

    def model(self) -> Model:
        return self.loaded.model

    def plan(self, event: dict[str, Any]) -> dict[str, Any]:
        """Returns what the Map needs: where the shard list is, and the job's own settings."""
        settings = self.loaded.settings
        job = job_request(event, settings)
        plan = plan_dataset(job.input, job.output, settings.shard_rows, settings.input_prefix, job.keys)
        bucket, key = split_s3_uri(shard_list_uri(job.output))
        logger.info("planned", extra={"input": job.input, "shards": plan["shards"], "files": plan["files"]})
        tolerance = job.tolerated_failure_percentage
        return {
            **plan,
            "items": {"bucket": bucket, "key": key},
            "tolerated_failure_percentage": settings.tolerated_failure_percentage if tolerance is None else tolerance,
            "max_concurrency": settings.max_concurrency,
        }

    def shard(self, event: dict[str, Any]) -> dict[str, Any]:
        """One Map item: `{"shard": <an item of shards.json>, "output": ...}`. Returns a small status."""
        shard = Shard.from_item(event["shard"])
        logger.append_keys(shard=shard.index, input=shard.file["uri"])
        try:
            summary = score_shard(self.model(), shard, event["output"], self.loaded.settings.capture_uri)
        except Exception as error:  # the child execution's error then names its shard
            groups = f", row groups {shard.row_groups[0]}-{shard.row_groups[1] - 1}" if shard.row_groups else ""
            raise ShardFailed(
                f"shard {shard.index} ({shard.file['uri']}{groups}): {type(error).__name__}: {error}"
            ) from error
        result = {"shard": shard.index, "status": summary["status"], "customers": summary.get("customers_scored", 0)}
        logger.info("shard done", extra=result)
        return result

    def reduce(self, event: dict[str, Any]) -> dict[str, Any]:
        """`{"output": ...}`: the plan's result, with the Map's."""
        return reduce_job(self.model(), event["output"])


def task_handlers(loaded: Loaded) -> dict[str, Handler]:
    """`plan`, `shard` and `reduce` as Lambda handlers, with the functions' logging and metrics."""
    tasks = DatasetTasks(loaded)
    found: dict[str, Handler] = {}
    for name, task in (("plan", tasks.plan), ("shard", tasks.shard), ("reduce", tasks.reduce)):

        def handler(event: dict[str, Any], context: Any, task: Callable[[dict[str, Any]], Any] = task) -> Any:
            return task(event)

        found[name] = metrics.log_metrics(logger.inject_lambda_context(handler, clear_state=True))
    return found
