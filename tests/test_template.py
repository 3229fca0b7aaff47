"""template.yaml: valid for cfn-lint and SAM, and it says what the product promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

TEMPLATE = ROOT / "template.yaml"
SAM = ROOT / ".venv" / "sam" / "bin" / "sam"


@pytest.fixture(scope="module")
def template() -> dict:
    from cfnlint.decode import cfn_yaml

    return cfn_yaml.load(str(TEMPLATE))


def test_cfn_lint_passes() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_passes(tmp_path: Path) -> None:
    if not SAM.exists():
        pytest.skip(f"{SAM} is missing: run `make install`")
    env = dict(os.environ, SAM_CLI_TELEMETRY="0", AWS_DEFAULT_REGION="us-east-1", HOME=str(tmp_path))
    for extra in ([], ["--lint"]):  # plain validate runs SAM's translator; --lint runs cfn-lint on it
        result = subprocess.run(
            [str(SAM), "validate", "-t", str(TEMPLATE), *extra],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "is a valid SAM Template" in result.stdout + result.stderr


def test_parameters_have_defaults(template: dict) -> None:
    parameters = template["Parameters"]
    for name in (
        "ModelUri",
        "DecisionThreshold",
        "OutputFormat",
        "ApiMemorySize",
        "ApiTimeout",
        "BatchMemorySize",
        "BatchTimeout",
        "Architecture",
        "ApiAuth",
    ):
        assert "Default" in parameters[name], name
    assert parameters["ApiAuth"]["Default"] == "IAM" and parameters["ModelUri"]["Default"] == ""


def test_one_image_two_handlers(template: dict) -> None:
    resources = template["Resources"]
    api, batch = resources["ScoreApiFunction"]["Properties"], resources["ScoreFileFunction"]["Properties"]
    assert api["PackageType"] == batch["PackageType"] == "Image"
    assert resources["ScoreApiFunction"]["Metadata"] == resources["ScoreFileFunction"]["Metadata"]
    assert batch["ImageConfig"]["Command"] == ["lambda_function.batch.handler"]
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in api["Events"].values()}
    assert routes == {
        ("POST", "/v1/predict"),
        ("POST", "/predict"),
        ("GET", "/health"),
        ("GET", "/v1/model"),
        ("GET", "/docs"),
        ("GET", "/openapi.json"),
    }
    suffixes = {
        rule["Value"]
        for e in batch["Events"].values()
        for rule in e["Properties"]["Filter"]["S3Key"]["Rules"]
        if rule["Name"] == "suffix"
    }
    assert suffixes == {".parquet", ".csv", ".csv.gz"}


def test_bucket_is_locked_down_and_failures_are_caught(template: dict) -> None:
    resources = template["Resources"]
    bucket = resources["DataBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert "BucketEncryption" in bucket and bucket["LifecycleConfiguration"]["Rules"][0]["Id"] == "ExpireErrorReports"
    [statement] = resources["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"]["Bool"]["aws:SecureTransport"] == "false"
    invoke = resources["ScoreFileFunction"]["Properties"]["EventInvokeConfig"]
    assert invoke["MaximumRetryAttempts"] <= 2 and invoke["DestinationConfig"]["OnFailure"]["Type"] == "SQS"
    alarms = {name for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert {"ApiErrorsAlarm", "BatchErrorsAlarm", "ApiThrottlesAlarm", "FailedEventsAlarm", "DriftAlarm"} <= alarms
    assert resources["DriftAlarm"]["Properties"]["MetricName"] == "MaxPSI"
    assert set(template["Outputs"]) >= {"ApiUrl", "DataBucketName", "UploadTo", "FailureQueueUrl"}


def test_the_api_writes_an_access_log_line_per_request(template: dict) -> None:
    """The function logs only refused and failed requests; the gateway logs every one."""
    resources = template["Resources"]
    settings = resources["ScoreHttpApi"]["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ScoreApiAccessLogGroup", "Arn"]}
    line = json.loads(settings["Format"])
    assert line["functionRequestId"] == "$context.integration.requestId"  # = request_id in the function's logs
    assert {"requestId", "routeKey", "status", "responseLatency", "integrationLatency"} <= set(line)
    assert resources["ScoreApiAccessLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
