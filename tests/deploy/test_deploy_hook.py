"""The pre-traffic hook, end to end: the hook function, under Lambda's runtime, invokes the new
versions through Lambda's Invoke API, each a runtime of its function (tests/lambda_service.py),
reads and writes moto's S3 over HTTP, and reports to a CodeDeploy stand-in that records the
status it is sent (CodeDeploy's service itself cannot run here). No handler runs in the test process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from helpers import ROOT, SYNTHETIC_MODEL
from lambda_service import LambdaService, lambda_service
from runtimes import Runtimes

from lambda_function.core.artifacts import load_artifacts, write_model_directory
from lambda_function.core.scoring import Model
from lambda_function.deploy import hook as deploy_hook

EVENT = {"DeploymentId": "d-EXAMPLE1", "LifecycleEventHookExecutionId": "execution-1"}


def _wrong_model(folder: Path) -> Model:
    """The committed model with one tree less and fresh checksums: it loads, and scores differently."""
    import xgboost

    artifacts = load_artifacts(SYNTHETIC_MODEL)
    booster = xgboost.Booster(model_file=str(SYNTHETIC_MODEL / "model.ubj"))
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
def service(s3_endpoint: str, runtimes: Runtimes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdaService]:
    """The versions the hook checks, each a runtime of its function: good ones, one whose model
    scores differently, one whose model will not load."""
    wrong = _wrong_model(tmp_path_factory.mktemp("models"))
    found = LambdaService(
        {
            "api:7": runtimes.start("ScoreApiFunction"),
            "batch:7": runtimes.start("ScoreFileFunction"),
            "api:wrong": runtimes.start("ScoreApiFunction", MODEL_URI=str(wrong.artifacts.directory)),
            "api:broken": runtimes.start("ScoreApiFunction", MODEL_URI="/var/task/no-such-model"),
        }
    )
    with lambda_service(found, s3_endpoint) as found.port:
        yield found


def run_hook(
    service: LambdaService, runtimes: Runtimes, bucket: str, api_version: str, batch_version: str = "", timeout: int = 0
) -> dict[str, Any]:
    """The hook's own runtime, invoked with CodeDeploy's event, the versions in its environment as
    the template sets them; Lambda and CodeDeploy are the router above (CodeDeploy's part records)."""
    service.codedeploy.clear()
    endpoint = f"http://127.0.0.1:{service.port}"
    hook = runtimes.start(
        "PreTrafficHookFunction",
        timeout=timeout,
        API_FUNCTION_VERSION=api_version,
        BATCH_FUNCTION_VERSION=batch_version,
        DATA_BUCKET=bucket,
        AWS_ENDPOINT_URL_LAMBDA=endpoint,
        AWS_ENDPOINT_URL_CODEDEPLOY=endpoint,
    )
    result = hook.invoke(EVENT).json()
    [reported] = service.codedeploy
    assert reported["action"] == "PutLifecycleEventHookExecutionStatus"
    assert reported["deploymentId"] == "d-EXAMPLE1" and reported["lifecycleEventHookExecutionId"] == "execution-1"
    assert reported["status"] == result["status"]
    return dict(result)


def test_new_versions_that_score_the_golden_customers_pass(
    service: LambdaService, runtimes: Runtimes, bucket: str
) -> None:
    result = run_hook(service, runtimes, bucket, "api:7", "batch:7")
    assert result == {"status": "Succeeded", "problem": None}
    invoked = [name for name, _ in service.calls[-2:]]
    assert invoked == ["api:7", "batch:7"]  # each new version, directly: not the alias


def test_a_version_with_another_booster_fails_naming_the_customer(
    service: LambdaService, runtimes: Runtimes, bucket: str
) -> None:
    result = run_hook(service, runtimes, bucket, "api:wrong")
    assert result["status"] == "Failed" and result["problem"].startswith("api:wrong: golden customer ")
    assert "expected" in result["problem"] and "got" in result["problem"]


def test_a_version_whose_model_will_not_load_fails(service: LambdaService, runtimes: Runtimes, bucket: str) -> None:
    result = run_hook(service, runtimes, bucket, "api:broken")
    assert result["status"] == "Failed"  # it did not start: Lambda's init error, with the reason
    assert "api:broken failed: StartupError: model failed to load from /var/task/no-such-model" in result["problem"]


def test_a_version_that_does_not_answer_in_time_is_invoked_once_and_reported(
    service: LambdaService, runtimes: Runtimes, bucket: str
) -> None:
    """The hook waits for a hanging version only until its own deadline less the report margin
    (here a 14 s timeout: 4 s), invokes it once (no client retry), and still reports Failed."""
    calls = len(service.calls)
    with mock.patch.dict(service.faults, {"api:7": lambda event: time.sleep(8)}):
        started = time.monotonic()
        result = run_hook(service, runtimes, bucket, "api:7", timeout=deploy_hook.REPORT_MARGIN_SECONDS + 4)
        waited = time.monotonic() - started
    assert result["status"] == "Failed" and "timeout" in result["problem"].lower()
    assert [name for name, _ in service.calls[calls:]] == ["api:7"]
    assert waited < deploy_hook.REPORT_MARGIN_SECONDS + 4


def test_the_hook_is_in_the_template_as_codedeploy_can_call_it() -> None:
    from cfnlint.decode import cfn_yaml

    template = cfn_yaml.load(str(ROOT / "template.yaml"))
    resources = template["Resources"]
    hook = resources["PreTrafficHookFunction"]["Properties"]
    assert hook["ImageConfig"]["Command"] == ["lambda_function.handlers.deploy_hook.handler"]
    assert json.dumps(hook["FunctionName"]).count("CodeDeployHook_") == 1  # the default CodeDeploy role's rule
    for name in ("ScoreApiFunction", "ScoreFileFunction"):
        properties = resources[name]["Properties"]
        assert properties["AutoPublishAlias"] == "live"
        preference = properties["DeploymentPreference"]
        assert preference["Type"] == {"Ref": "DeploymentStrategy"}
        assert preference["Hooks"]["PreTraffic"] == {"Ref": "PreTrafficHookFunction"}
        assert preference["Alarms"]
