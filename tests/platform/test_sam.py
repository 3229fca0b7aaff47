"""SAM itself on a Docker engine: `sam build` with the project's Dockerfile, `sam local invoke` of
every function on each of its events, `start-api` on every route, `start-lambda` for boto3 and for
the ScoreDataset state machine, and the built image as Lambda runs it (read-only, not root).

tests/sam_local.py says what is AWS's code and what stands in. The functions reach S3 (moto's
server, on the engine's bridge gateway) through the template's AWS_ENDPOINT_URL_S3, set by an env
file exactly as README "Try it with SAM" shows. Skipped without an engine, except in CI.
"""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from helpers import EVENTS, ROOT, SYNTHETIC_MODEL, get, keys_in, remove_bucket, upload, upload_model_as
from lambda_service import LambdaService, lambda_service
from sam_local import docker_host, last_json, project_with_model, require_engine, sam, sam_environment, sam_server
from step_functions import score_dataset

from amex_scoring.events import BUCKET, DATASET_FILE
from amex_scoring.lambda_runtime import Invocation
from amex_scoring.local_s3 import put_event_objects, write_env_file
from lambda_function.s3 import s3_client

# Each event, and the function the template gives it (in the order a job runs).
EVENT_FUNCTIONS = [(path.name, "ScoreApiFunction") for path in sorted(EVENTS.glob("api-*.json"))] + [
    ("s3-put.json", "ScoreFileFunction"),
    ("s3-put-csv.json", "ScoreFileFunction"),
    ("s3-output-ignored.json", "ScoreFileFunction"),
    ("dataset-job-file.json", "PlanDatasetFunction"),
    ("dataset-plan.json", "PlanDatasetFunction"),
    ("dataset-shard.json", "ScoreShardFunction"),
    ("dataset-reduce.json", "ReduceDatasetFunction"),
    ("monitor-daily.json", "MonitorFunction"),
    ("monitor-labels.json", "MonitorFunction"),
]


def event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


@pytest.fixture(scope="module")
def gateway() -> str:
    return require_engine()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sam-home")


@pytest.fixture(scope="module")
def environment(gateway: str, home: Path) -> dict[str, str]:
    return sam_environment(home)


@pytest.fixture(scope="module")
def built(environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sam build`: the project's Dockerfile, one image for every function."""
    folder = tmp_path_factory.mktemp("sam-build")
    project = project_with_model(SYNTHETIC_MODEL, tmp_path_factory.mktemp("project"))
    result = sam(["build", "--build-dir", str(folder)], environment, timeout=1200, cwd=project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return folder / "template.yaml"


@pytest.fixture(scope="module")
def local_s3(gateway: str, s3_endpoint: str) -> Iterator[str]:
    """moto's server on the bridge gateway, where containers reach this machine. The same process
    as the session's server, so the same buckets."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind((gateway, 0))
        port = int(probe.getsockname()[1])
    server = ThreadedMotoServer(ip_address=gateway, port=port, verbose=False)
    server.start()
    yield f"http://{gateway}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def events_data(local_s3: str, statements_file: Path) -> Iterator[str]:
    """The objects the events name, in the bucket they name (as `amex-scoring local-s3` puts them)."""
    put_event_objects(s3_client(), statements_file)
    yield BUCKET
    remove_bucket(BUCKET)


def env_file(home: Path, name: str, variables: dict[str, dict[str, str]]) -> Path:
    path = home / name
    path.write_text(json.dumps(variables))
    return path


@pytest.fixture(scope="module")
def s3_env(home: Path, local_s3: str) -> Path:
    """README's env file for a local S3, as `amex-scoring local-s3` writes it."""
    write_env_file(home / "local-s3.json", local_s3)
    return home / "local-s3.json"


def invoke(built: Path, environment: dict[str, str], function: str, event_file: Path, *extra: str) -> Any:
    result = sam(["local", "invoke", function, "-e", str(event_file), "-t", str(built), *extra], environment)
    assert result.returncode == 0, result.stderr[-3000:]
    return last_json(result.stdout)


def test_sam_build_makes_one_image_for_every_function(built: Path) -> None:
    from cfnlint.decode import cfn_yaml

    resources = cfn_yaml.load(str(built))["Resources"]
    images = {
        name: r["Properties"]["ImageUri"] for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"
    }
    assert len(images) == 7  # six scoring functions and the monitor
    from sam_local import engine_api

    ids = {engine_api(f"/images/{uri}/json")["Id"] for uri in images.values()}
    assert len(ids) == 1, images  # one image, tagged for each function


def test_sam_local_invoke_runs_every_function_on_each_of_its_events(
    built: Path, environment: dict[str, str], s3_env: Path, events_data: str
) -> None:
    answers = {
        name: invoke(built, environment, function, EVENTS / name, "--env-vars", str(s3_env))
        for name, function in EVENT_FUNCTIONS
    }
    for name, answer in answers.items():
        if name.startswith("api-"):
            assert answer["statusCode"] == (422 if name == "api-invalid.json" else 200), (name, answer)
    assert {json.loads(answers[n]["body"])["predictions"][0]["probability"] for n in ("api-predict.json",)}
    for name in ("monitor-daily.json", "monitor-labels.json"):  # reports written to the local bucket
        assert answers[name]["report"].startswith("s3://") and answers[name]["report"].endswith("report.json")
    for name in ("s3-put.json", "s3-put-csv.json"):
        [result] = answers[name]["results"]
        assert result["status"] == "scored" and result["customers"] == 300, result
    assert answers["s3-output-ignored.json"]["results"][0]["status"] == "skipped"
    reduce_event = event("dataset-reduce.json")
    planned = {k: v for k, v in reduce_event.items() if k != "map"}
    assert answers["dataset-job-file.json"] == answers["dataset-plan.json"] == planned
    assert answers["dataset-shard.json"] == {"shard": 0, "status": "scored", "customers": 3}
    assert answers["dataset-reduce.json"]["status"] == "succeeded"
    assert "scored/2026-11/_SUCCESS" in keys_in(events_data)


def test_sam_local_invoke_returns_an_unhandled_exception_in_lambdas_shape(
    built: Path, environment: dict[str, str], home: Path
) -> None:
    """`sam local invoke` exits 0 whatever the handler did: the payload says it failed."""
    bad = home / "bad-job.json"
    bad.write_text(json.dumps({"output": "s3://bucket/scored/x/"}))
    answer = invoke(built, environment, "PlanDatasetFunction", bad)
    assert answer["errorType"] == "JobError" and answer["errorMessage"].startswith('a job is {"input"')


def test_model_uri_reaches_the_functions_under_sam_local(
    built: Path, environment: dict[str, str], s3_env: Path, local_s3: str, bucket: str, tmp_path: Path
) -> None:
    uri = upload_model_as(bucket, "models/v9/", "9.9.9-from-s3", tmp_path / "model")
    override = ["--parameter-overrides", f"ModelUri={uri}", "--env-vars", str(s3_env)]
    answer = invoke(built, environment, "ScoreApiFunction", EVENTS / "api-model.json", *override)
    assert json.loads(answer["body"])["version"] == "9.9.9-from-s3"
    answer = invoke(built, environment, "ScoreApiFunction", EVENTS / "api-model.json", "--env-vars", str(s3_env))
    assert json.loads(answer["body"])["version"] == "1.0.0-synthetic"  # without it: the image's


def _request(url: str, method: str = "GET", body: bytes | None = None, **headers: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_sam_local_start_api_answers_every_route(
    built: Path, environment: dict[str, str], s3_env: Path, events_data: str
) -> None:
    """Real HTTP through SAM's API Gateway emulation of the template's routes (JSON and binary V2
    through tritonclient, a client nobody here wrote)."""
    import tritonclient.http as triton

    args = ["-t", str(built), "--env-vars", str(s3_env), "--warm-containers", "EAGER"]
    with sam_server("start-api", args, environment, "/health") as url:
        one = json.loads(event("api-predict.json")["body"])
        status, body = _request(
            f"{url}/v1/predict", "POST", json.dumps(one).encode(), **{"content-type": "application/json"}
        )
        assert status == 200
        probability = json.loads(body)["predictions"][0]["probability"]
        status, body = _request(
            f"{url}/predict", "POST", json.dumps(one).encode(), **{"content-type": "application/json"}
        )
        assert status == 200 and json.loads(body)["creditworthiness"] == probability
        for path in ("/health", "/docs", "/openapi.json", "/v1/model", "/v2", "/v2/health/live", "/v2/health/ready"):
            assert _request(url + path)[0] == 200, path
        model = json.loads(_request(f"{url}/v2/models/amex-default-xgboost")[1])
        version = model["versions"][0]
        for path in ("", "/ready", f"/versions/{version}", f"/versions/{version}/ready"):
            assert _request(f"{url}/v2/models/amex-default-xgboost{path}")[0] == 200, path
        assert _request(f"{url}/v2/models/another")[0] == 404  # the app's answer, not API Gateway's 403
        v2 = event("api-v2-infer.json")
        status, body = _request(f"{url}/v2/models/amex-default-xgboost/infer", "POST", v2["body"].encode())
        assert status == 200, body
        client = triton.InferenceServerClient(url.removeprefix("http://"))
        ids = triton.InferInput("customer_ID", [1], "BYTES")
        ids.set_data_from_numpy(np.array([one["customer_ID"]], dtype=object), binary_data=True)
        inputs = [ids]
        for name, value in one.items():
            if name != "customer_ID" and isinstance(value, int | float) and not isinstance(value, bool):
                tensor = triton.InferInput(name, [1], "FP64")
                tensor.set_data_from_numpy(np.array([value], dtype=np.float64), binary_data=True)
                inputs.append(tensor)
            elif name != "customer_ID" and isinstance(value, str):
                tensor = triton.InferInput(name, [1], "BYTES")
                tensor.set_data_from_numpy(np.array([value], dtype=object), binary_data=True)
                inputs.append(tensor)
        outputs = [triton.InferRequestedOutput("probability", binary_data=True)]
        answer = client.infer("amex-default-xgboost", inputs, outputs=outputs)
        assert answer.as_numpy("probability").tolist() == [probability]


class StartLambdaFunction:
    """One function of `sam local start-lambda`, as the router's Function."""

    def __init__(self, url: str, name: str) -> None:
        self.client = boto3.client("lambda", endpoint_url=url, region_name="us-east-1", config=_no_retries())
        self.name = name

    def invoke(self, event: Any) -> Invocation:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        answer = self.client.invoke(FunctionName=self.name, Payload=body)
        return Invocation(answer["StatusCode"], answer["Payload"].read())


def _no_retries() -> Any:
    from botocore.config import Config

    return Config(read_timeout=900, retries={"total_max_attempts": 1})


def test_sam_local_start_lambda_answers_boto3_and_runs_the_dataset_job_and_the_hook(
    built: Path,
    environment: dict[str, str],
    home: Path,
    local_s3: str,
    gateway: str,
    events_data: str,
    statements_file: Path,
) -> None:
    """boto3's invoke for every function; the ScoreDataset definition end to end (moto's
    interpreter, its tasks on start-lambda); the pre-traffic hook invoking the other functions
    through start-lambda and reporting to the router's CodeDeploy stand-in."""
    service = LambdaService({})
    with lambda_service(service, local_s3, host=gateway) as port:
        here = f"http://{gateway}:{port}"
        variables = {
            "Parameters": {"AWS_ENDPOINT_URL_S3": local_s3},
            "PreTrafficHookFunction": {
                "API_FUNCTION_VERSION": "ScoreApiFunction",
                "BATCH_FUNCTION_VERSION": "ScoreFileFunction",
                "DATA_BUCKET": events_data,
                "AWS_ENDPOINT_URL_LAMBDA": here,
                "AWS_ENDPOINT_URL_CODEDEPLOY": here,
            },
        }
        args = ["-t", str(built), "--env-vars", str(env_file(home, "start-lambda.json", variables))]
        with sam_server("start-lambda", args, environment, "/") as url:
            names = ("ScoreApiFunction", "ScoreFileFunction", "PlanDatasetFunction", "ScoreShardFunction")
            names += ("ReduceDatasetFunction",)
            functions = {name: StartLambdaFunction(url, name) for name in names}
            service.functions.update(functions)
            health = functions["ScoreApiFunction"].invoke(event("api-health.json")).json()
            assert health["statusCode"] == 200
            [scored] = functions["ScoreFileFunction"].invoke(event("s3-put.json")).json()["results"]
            assert scored["status"] == "scored"

            hook = StartLambdaFunction(url, "PreTrafficHookFunction").invoke(event("deploy-hook.json")).json()
            assert hook == {"status": "Succeeded", "problem": None}
            # and by `sam local invoke`, on its event, as README shows (the same env file)
            hook = invoke(built, environment, "PreTrafficHookFunction", EVENTS / "deploy-hook.json", *args[2:])
            assert hook == {"status": "Succeeded", "problem": None}
            assert [r["status"] for r in service.codedeploy] == ["Succeeded", "Succeeded"]

            upload(events_data, "datasets/sam/a.csv", EVENTS / "data" / DATASET_FILE)
            upload(events_data, "datasets/sam/b.parquet", statements_file)
            tasks = {"plan": "PlanDatasetFunction", "shard": "ScoreShardFunction", "reduce": "ReduceDatasetFunction"}
            job = {"input": f"s3://{events_data}/datasets/sam/", "output": f"s3://{events_data}/scored/sam/"}
            with score_dataset(LambdaService({t: functions[n] for t, n in tasks.items()}), local_s3) as machine:
                execution = machine.run(job, timeout=600)
            assert execution["status"] == "SUCCEEDED", execution.get("cause")
            summary = json.loads(get(events_data, "scored/sam/_SUMMARY.json"))
            assert summary["customers_scored"] == 303 and "scored/sam/_SUCCESS" in keys_in(events_data)


def test_the_built_image_runs_read_only_as_a_non_root_user(
    built: Path, local_s3: str, bucket: str, statements_file: Path, tmp_path: Path
) -> None:
    """As Lambda runs it: the root file system read-only, /tmp the only place to write, a user
    that is not root. The model comes from S3 (cached in /tmp), and a file is scored."""
    from cfnlint.decode import cfn_yaml

    image = cfn_yaml.load(str(built))["Resources"]["ScoreApiFunction"]["Properties"]["ImageUri"]
    uri = upload_model_as(bucket, "models/ro/", "7.7.7-read-only", tmp_path / "model")
    upload(bucket, "incoming/ro.parquet", statements_file)
    for handler, event_body, check in (
        ("lambda_function.handlers.api.handler", event("api-model.json"), "7.7.7-read-only"),
        ("lambda_function.handlers.batch.handler", _s3_event(bucket, "incoming/ro.parquet"), '"status": "scored"'),
    ):
        container = _run_read_only(image, handler, {"MODEL_URI": uri, "AWS_ENDPOINT_URL_S3": local_s3})
        try:
            port = _published_port(container)
            status, body = _wait_and_invoke(port, json.dumps(event_body).encode())
            assert status == 200 and check in body.decode(), body[:2000]
        finally:
            logs = subprocess.run(["docker", "-H", docker_host(), "logs", container], capture_output=True, text=True)
            subprocess.run(["docker", "-H", docker_host(), "rm", "-f", container], capture_output=True)
        assert "Read-only file system" not in logs.stdout + logs.stderr


def _s3_event(bucket: str, key: str) -> dict[str, Any]:
    from amex_scoring.events import s3_put

    return s3_put(key, bucket=bucket)


def _run_read_only(image: str, handler: str, variables: dict[str, str]) -> str:
    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
    command = ["docker", "-H", docker_host(), "run", "-d", "--read-only", "--tmpfs", "/tmp:rw,size=512m"]
    command += ["--user", "993:990", "-p", "127.0.0.1::8080"]
    for name, value in {**credentials, **variables}.items():
        command += ["-e", f"{name}={value}"]
    result = subprocess.run([*command, image, handler], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def _published_port(container: str) -> int:
    from sam_local import engine_api

    ports = engine_api(f"/containers/{container}/json")["NetworkSettings"]["Ports"]
    return int(ports["8080/tcp"][0]["HostPort"])


def _wait_and_invoke(port: int, body: bytes) -> tuple[int, bytes]:
    import time

    url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
    deadline = time.monotonic() + 60
    while True:
        try:
            return _request(url, "POST", body)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_the_commands_in_the_readme_are_the_ones_tested() -> None:
    """README "Try it with SAM" shows these commands; the tests above run them."""
    readme = (ROOT / "README.md").read_text()
    for command in (
        "sam build",
        "sam local invoke ScoreApiFunction -e events/api-predict.json",
        "--env-vars local-s3.json",
        "sam local start-api",
        "sam local start-lambda",
        "--parameter-overrides ModelUri=",
    ):
        assert command in readme, command
