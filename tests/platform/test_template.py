"""template.yaml: valid for cfn-lint and SAM, and it says what the product promises."""

from __future__ import annotations

import json
import os
import re
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


def _served(method: str, path: str, routes: set[tuple[str, str]]) -> bool:
    """Whether API Gateway sends `method path` to the function: a route of the same method (or ANY)
    whose path matches, `{name}` one segment, `{name+}` the rest (at least one segment)."""
    for route_method, route_path in routes:
        pattern = re.sub(r"\\\{[^/]+\\\+\\\}", ".+", re.escape(route_path))
        pattern = re.sub(r"\\\{[^/]+\\\}", "[^/]+", pattern)
        if route_method in (method, "ANY") and re.fullmatch(pattern, path):
            return True
    return False


def test_one_image_and_every_route_the_app_serves_reaches_it(template: dict) -> None:
    """Each method and path of the HTTP app (its OpenAPI document, plus /docs and /openapi.json)
    is routed to the HTTP function, as an event and in the API's definition (where auth is set)."""
    from fastapi.testclient import TestClient
    from serving import api

    resources = template["Resources"]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert {r["Properties"]["PackageType"] for r in functions} == {"Image"}
    assert len({json.dumps(r["Metadata"]) for r in functions}) == 1  # one image
    api_function = resources["ScoreApiFunction"]["Properties"]
    routes = {(e["Properties"]["Method"].upper(), e["Properties"]["Path"]) for e in api_function["Events"].values()}
    definition = resources["ScoreHttpApi"]["Properties"]["DefinitionBody"]["paths"]
    declared = {
        (m.upper().replace("X-AMAZON-APIGATEWAY-ANY-METHOD", "ANY"), p) for p, ops in definition.items() for m in ops
    }
    assert declared == routes  # every route has its auth setting, and no setting is left without a route
    document = TestClient(api.app).get("/openapi.json").json()
    served = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops} | {
        ("GET", "/docs"),
        ("GET", "/openapi.json"),
    }
    assert ("POST", "/v2/models/{name}/versions/{version}/infer") in served
    for method, path in served:
        concrete = re.sub(r"\{[^/]+\}", "x", path)
        assert _served(method, concrete, routes), f"{method} {path} is not routed to the function"
    assert not _served("GET", "/v3/models", routes)  # and nothing else is


def test_the_batch_function_watches_every_input_format(template: dict) -> None:
    batch = template["Resources"]["ScoreFileFunction"]["Properties"]
    assert batch["ImageConfig"]["Command"] == ["lambda_function.handlers.batch.handler"]
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
    # `sam delete` keeps the statements, the scores and their versions (README, "Teardown").
    assert resources["DataBucket"]["DeletionPolicy"] == resources["DataBucket"]["UpdateReplacePolicy"] == "Retain"
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


TRANSLATE = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse
template = yaml_parse(open(sys.argv[1]).read())
for resource in template["Resources"].values():  # what `sam build` fills in
    if resource["Type"] == "AWS::Serverless::Function":
        resource["Properties"]["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/amex:1"
    if resource["Type"] == "AWS::Serverless::StateMachine":
        resource["Properties"]["DefinitionUri"] = {"Bucket": "artifacts", "Key": "score_dataset.asl.json"}
class NoManagedPolicies:
    def load(self): return {}
print(json.dumps(transform(template, {}, NoManagedPolicies())))
"""


@pytest.fixture(scope="module")
def transformed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The template as CloudFormation receives it: SAM's translator, as `sam validate` runs it."""
    python = ROOT / ".venv" / "sam" / "bin" / "python"
    if not python.exists():
        pytest.skip(f"{python} is missing: run `make install`")
    env = dict(os.environ, AWS_DEFAULT_REGION="us-east-1", HOME=str(tmp_path_factory.mktemp("home")))
    result = subprocess.run(
        [str(python), "-c", TRANSLATE, str(TEMPLATE)], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])["Resources"]


def test_every_event_source_invokes_the_live_alias(transformed: dict) -> None:
    notifications = transformed["DataBucket"]["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    assert {json.dumps(n["Function"]) for n in notifications} == {'{"Ref": "ScoreFileFunctionAliaslive"}'}
    paths = transformed["ScoreHttpApi"]["Properties"]["Body"]["paths"]
    uris = [op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"] for path in paths.values() for op in path.values()]
    assert uris and all("${ScoreApiFunctionAliaslive}" in uri for uri in uris)
    substitutions = transformed["ScoreDatasetStateMachine"]["Properties"]["DefinitionSubstitutions"]
    for name, function in (
        ("PlanFunctionArn", "PlanDataset"),
        ("ShardFunctionArn", "ScoreShard"),
        ("ReduceFunctionArn", "ReduceDataset"),
    ):
        assert substitutions[name] == {"Ref": f"{function}FunctionAliaslive"}


def test_both_functions_shift_traffic_behind_alarms_and_the_golden_hook(transformed: dict) -> None:
    for function, alarms in (
        ("ScoreApiFunction", {"ApiErrorsAlarm", "ApiThrottlesAlarm", "ApiLatencyAlarm", "Api5xxAlarm"}),
        ("ScoreFileFunction", {"BatchErrorsAlarm", "BatchThrottlesAlarm", "ErrorReportsAlarm"}),
    ):
        group = transformed[f"{function}DeploymentGroup"]["Properties"]
        assert {a["Name"]["Ref"] for a in group["AlarmConfiguration"]["Alarms"]} == alarms
        assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
        update = transformed[f"{function}Aliaslive"]["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        assert update["BeforeAllowTrafficHook"] == {"Ref": "PreTrafficHookFunction"}
    role = transformed["PreTrafficHookFunctionRole"]["Properties"]["Policies"]
    statements = [s for policy in role if "PolicyDocument" in policy for s in policy["PolicyDocument"]["Statement"]]
    [invoke] = [s for s in statements if s["Action"] == "lambda:InvokeFunction"]
    versions = [resource["Ref"] for resource in invoke["Resource"]]  # exactly the two new versions
    assert versions[0].startswith("ScoreApiFunctionVersion") and versions[1].startswith("ScoreFileFunctionVersion")
    assert all(transformed[v]["Type"] == "AWS::Lambda::Version" for v in versions)
