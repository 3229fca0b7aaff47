"""ScoreDataset as the template deploys it, on moto's Step Functions interpreter, for the tests.

moto's Step Functions, in its state-machine-executing mode, runs statemachine/score_dataset.asl.json
with the ASL interpreter it vendors from LocalStack; its Lambda tasks reach whatever MOTO_PORT
points at (tests/lambda_service.py's router: runtimes, or SAM's start-lambda)."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

import boto3
from helpers import ROOT
from lambda_service import LambdaService, lambda_service

DEFINITION = ROOT / "statemachine" / "score_dataset.asl.json"
TASKS = {"PlanFunctionArn": "plan", "ShardFunctionArn": "shard", "ReduceFunctionArn": "reduce"}


@dataclass
class StepFunctions:
    client: Any
    state_machine: str
    service: LambdaService

    def run(self, job: dict[str, Any], timeout: float = 240) -> dict[str, Any]:
        name = uuid.uuid4().hex
        started = self.client.start_execution(stateMachineArn=self.state_machine, name=name, input=json.dumps(job))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.client.describe_execution(executionArn=started["executionArn"])
            if found["status"] != "RUNNING":
                return dict(found)
            time.sleep(0.2)
        raise TimeoutError(f"execution still running after {timeout} s")


def deployed_definition(map_results_bucket: str) -> str:
    """The definition file with the template's DefinitionSubstitutions applied, as CloudFormation
    does: each task's function named by the router's name for it (TASKS)."""
    from cfnlint.decode import cfn_yaml

    template = cfn_yaml.load(str(ROOT / "template.yaml"))
    substitutions = template["Resources"]["ScoreDatasetStateMachine"]["Properties"]["DefinitionSubstitutions"]
    values = {name: f"arn:aws:lambda:us-east-1:123456789012:function:{task}" for name, task in TASKS.items()}
    values.update(MapResultsBucket=map_results_bucket, MapResultsPrefix="scored/_map-runs/")
    assert set(substitutions) == set(values) == set(re.findall(r"\$\{(\w+)\}", DEFINITION.read_text()))
    text = DEFINITION.read_text()
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text


@contextmanager
def score_dataset(service: LambdaService, moto_endpoint: str) -> Iterator[StepFunctions]:
    """The state machine on moto's server, its tasks invoking `service`'s functions by TASKS' names."""
    config = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/config", data=config, method="POST"))
    map_runs = "map-runs-" + uuid.uuid4().hex[:8]
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=map_runs)
    with lambda_service(service, moto_endpoint) as port, mock.patch.dict(os.environ, {"MOTO_PORT": str(port)}):
        client = boto3.client("stepfunctions", endpoint_url=moto_endpoint, region_name="us-east-1")
        arn = client.create_state_machine(
            name=f"ScoreDataset-{uuid.uuid4().hex[:8]}",
            definition=deployed_definition(map_runs),
            roleArn="arn:aws:iam::123456789012:role/score-dataset",
        )["stateMachineArn"]
        yield StepFunctions(client, arn, service)
