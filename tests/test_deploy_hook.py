"""The pre-traffic hook, end to end: the hook's handler invokes the new versions through Lambda's
Invoke API, answered by this project's real handlers (tests/lambda_service.py), reads and writes
moto's S3 over HTTP, and reports to a CodeDeploy stand-in that records the status it is sent
(CodeDeploy's service itself cannot run here)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from helpers import COMMITTED_MODEL
from lambda_service import LambdaService, lambda_service
from mangum import Mangum

from lambda_function import api, batch, deploy_hook
from lambda_function.artifacts import load_artifacts, write_model_directory
from lambda_function.scoring import Model
from lambda_function.settings import Settings

EVENT = {"DeploymentId": "d-EXAMPLE1", "LifecycleEventHookExecutionId": "execution-1"}


def _wrong_model(folder: Path) -> Model:
    """The committed model with one tree less and fresh checksums: it loads, and scores differently."""
    import xgboost

    artifacts = load_artifacts(COMMITTED_MODEL)
    booster = xgboost.Booster(model_file=str(COMMITTED_MODEL / "model.ubj"))
    fewer = bytes(booster[0 : booster.num_boosted_rounds() - 1].save_raw("ubj"))
    header = {k: v for k, v in artifacts.manifest.items() if k not in ("files", "format_version")}
    return Model(
        str(
            write_model_directory(
                folder / "wrong", header, artifacts.preprocessing, fewer, artifacts.reference, artifacts.golden
            )
        )
    ).load()


@pytest.fixture(scope="module")
def service(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdaService]:
    wrong = _wrong_model(tmp_path_factory.mktemp("models"))
    settings = Settings.from_env()
    handlers = {
        "api:7": api.handler,
        "batch:7": batch.handler,
        "api:wrong": Mangum(api.wrap(api.create_app(wrong, settings)), lifespan="off"),
        "api:broken": Mangum(
            api.wrap(api.create_app(None, settings, "model directory not found: /var/task/model")), lifespan="off"
        ),
    }
    found = LambdaService(handlers)
    with lambda_service(found, s3_endpoint) as port:
        endpoint = f"http://127.0.0.1:{port}"
        with mock.patch.dict(
            os.environ, {"AWS_ENDPOINT_URL_LAMBDA": endpoint, "AWS_ENDPOINT_URL_CODEDEPLOY": endpoint}
        ):
            yield found


def run_hook(service: LambdaService, bucket: str, api_version: str, batch_version: str = "") -> dict[str, Any]:
    service.codedeploy.clear()
    environ = {"API_FUNCTION_VERSION": api_version, "BATCH_FUNCTION_VERSION": batch_version, "DATA_BUCKET": bucket}
    with mock.patch.dict(os.environ, environ):
        result = deploy_hook.handler(EVENT, None)
    [reported] = service.codedeploy
    assert reported["action"] == "PutLifecycleEventHookExecutionStatus"
    assert reported["deploymentId"] == "d-EXAMPLE1" and reported["lifecycleEventHookExecutionId"] == "execution-1"
    assert reported["status"] == result["status"]
    return result


def test_new_versions_that_score_the_golden_customers_pass(service: LambdaService, bucket: str) -> None:
    result = run_hook(service, bucket, "api:7", "batch:7")
    assert result == {"status": "Succeeded", "problem": None}
    invoked = [name for name, _ in service.calls[-2:]]
    assert invoked == ["api:7", "batch:7"]  # each new version, directly: not the alias


def test_a_version_with_another_booster_fails_naming_the_customer(service: LambdaService, bucket: str) -> None:
    result = run_hook(service, bucket, "api:wrong")
    assert result["status"] == "Failed" and result["problem"].startswith("api:wrong: golden customer ")
    assert "expected" in result["problem"] and "got" in result["problem"]


def test_a_version_whose_model_will_not_load_fails(service: LambdaService, bucket: str) -> None:
    result = run_hook(service, bucket, "api:broken")
    assert result["status"] == "Failed" and "answered 503" in result["problem"]


def test_a_version_that_does_not_answer_in_time_fails(service: LambdaService, bucket: str) -> None:
    with (
        mock.patch.object(deploy_hook, "INVOKE_TIMEOUT_SECONDS", 1),
        mock.patch.dict(service.faults, {"api:7": lambda event: time.sleep(3)}),
    ):
        result = run_hook(service, bucket, "api:7")
    assert result["status"] == "Failed" and "timeout" in result["problem"].lower()


def test_the_hook_is_in_the_template_as_codedeploy_can_call_it() -> None:
    from cfnlint.decode import cfn_yaml

    template = cfn_yaml.load(str(Path(__file__).resolve().parent.parent / "template.yaml"))
    resources = template["Resources"]
    hook = resources["PreTrafficHookFunction"]["Properties"]
    assert hook["ImageConfig"]["Command"] == ["lambda_function.deploy_hook.handler"]
    assert json.dumps(hook["FunctionName"]).count("CodeDeployHook_") == 1  # the default CodeDeploy role's rule
    for name in ("ScoreApiFunction", "ScoreFileFunction"):
        properties = resources[name]["Properties"]
        assert properties["AutoPublishAlias"] == "live"
        preference = properties["DeploymentPreference"]
        assert preference["Type"] == {"Ref": "DeploymentStrategy"}
        assert preference["Hooks"]["PreTraffic"] == {"Ref": "PreTrafficHookFunction"}
        assert preference["Alarms"]
