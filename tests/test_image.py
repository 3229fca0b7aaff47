"""The container image's contents, proven without Docker.

The runtime lock is installed into an empty folder exactly as the Dockerfile does, the two
folders the Dockerfile copies are added, and every handler runs from there, through the
image's CMD import paths, in an isolated interpreter that sees nothing else.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from helpers import EVENTS, ROOT, keys_in

from amex_scoring.events import s3_put
from amex_scoring.image import image_environment, lambda_python, runtime_dependencies, task_folder
from amex_scoring.invoke import LambdaContext
from lambda_function import api
from lambda_function.s3 import s3_client

DOCKERFILE = (ROOT / "Dockerfile").read_text()
TEMPLATE = (ROOT / "template.yaml").read_text()
BOOTSTRAP = """
import importlib, json, sys, time
task, deps, handler_path, *events = sys.argv[1:]
sys.path[:0] = [task, deps]  # /var/task: the code, the model and the pip --target folder
module_name, name = handler_path.rsplit(".", 1)
handler = getattr(importlib.import_module(module_name), name)

class Context:
    function_name = "image-test"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:image-test"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    def get_remaining_time_in_millis(self):
        return 600000

results = [handler(json.load(open(event)), Context()) for event in events]
print("RESULT:" + json.dumps({
    "results": results,
    "module_file": sys.modules[module_name].__file__,
    "path": sys.path,
    "heavy": sorted(m for m in ("pandas", "sklearn", "pytest", "moto") if m in sys.modules),
}))
"""


def test_dockerfile_installs_the_runtime_lock_and_copies_two_folders() -> None:
    assert "FROM public.ecr.aws/lambda/python:3.12" in DOCKERFILE
    assert re.search(
        r"pip install --no-cache-dir --require-hashes --only-binary=:all: --no-deps \\\s+-r /tmp/requirements.txt "
        r'--target "\$\{LAMBDA_TASK_ROOT\}"',
        DOCKERFILE,
    )
    copies = re.findall(r"^COPY (\S+) ", DOCKERFILE, re.MULTILINE)
    assert copies == ["requirements/runtime.txt", "lambda_function/", "model/"]
    runtime = (ROOT / "requirements" / "runtime.txt").read_text()
    for banned in ("scikit-learn", "pandas", "pytest", "moto", "\nxgboost==", "\nscipy=="):
        assert banned not in runtime, banned
    assert "\nxgboost-cpu==" in runtime


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    python = lambda_python(required=True)  # fails, rather than proving the image on another Python
    deps = runtime_dependencies(python)  # cached: the same lock installs the same files
    return python, task_folder(tmp_path_factory.mktemp("var-task"), python), deps


def _image_process(image_folder: tuple[str, Path, Path], *args: str) -> subprocess.CompletedProcess[str]:
    """The image's Python on the image's folder, with the Dockerfile's ENV (S3 settings from here)."""
    python, task, deps = image_folder
    return subprocess.run(
        [python, "-I", "-S", "-c", BOOTSTRAP, str(task), str(deps), *args],
        capture_output=True,
        text=True,
        cwd=task,
        env={**os.environ, **image_environment()},
        timeout=300,
    )


def _run(image_folder: tuple[str, Path, Path], handler: str, events: list[Path]) -> dict:
    result = _image_process(image_folder, handler, *map(str, events))
    assert result.returncode == 0, result.stderr[-3000:]
    [line] = [line for line in result.stdout.splitlines() if line.startswith("RESULT:")]
    return json.loads(line.removeprefix("RESULT:"))


def _cmd() -> str:
    return json.loads(re.search(r"^CMD (.+)$", DOCKERFILE, re.MULTILINE).group(1))[0]


def test_http_handler_runs_from_the_image_folder(image_folder) -> None:
    events = sorted(EVENTS.glob("api-*.json"))
    output = _run(image_folder, _cmd(), events)
    _, task, deps = image_folder
    assert output["module_file"].startswith(str(task))
    assert not any("site-packages" in entry for entry in output["path"])  # nothing but the folder and stdlib
    assert output["heavy"] == []
    statuses = {event.name: result["statusCode"] for event, result in zip(events, output["results"], strict=True)}
    assert statuses.pop("api-invalid.json") == 422
    assert set(statuses.values()) == {200}
    # The image has its own Python and packages (XGBoost 3.4 on 3.12, where this venv may have
    # 3.2): a customer still gets the same score as from the CLI, the tests and the batch path.
    here = {event.name: api.handler(json.loads(event.read_text()), LambdaContext("api", 30)) for event in events}
    for event, result in zip(events, output["results"], strict=True):
        if event.name.startswith(("api-predict", "api-legacy", "api-explain")):
            ours, theirs = json.loads(here[event.name]["body"]), json.loads(result["body"])
            for prediction in ours.get("predictions", []):  # SHAP sums may differ in the 7th digit
                for reason in prediction.get("reasons", []):
                    reason["contribution"] = pytest.approx(reason["contribution"], abs=2e-6)
            assert theirs == ours, event.name


def test_batch_handler_runs_from_the_image_folder(
    image_folder, bucket: str, statements_file: Path, tmp_path: Path
) -> None:
    [command] = [c for c in re.findall(r'Command: \["([\w.]+)"\]', TEMPLATE) if c.startswith("lambda_function.batch.")]
    s3_client().upload_file(str(statements_file), bucket, "incoming/image test.parquet")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(s3_put("incoming/image test.parquet", bucket=bucket)))
    output = _run(image_folder, command, [event])
    [result] = output["results"][0]["results"]
    assert result["status"] == "scored" and result["customers"] == 300
    assert keys_in(bucket) == [
        "incoming/image test.parquet",
        "scored/image test.parquet.predictions.parquet",
        "scored/image test.parquet.summary.json",
    ]
    assert output["heavy"] == []


def test_the_dataset_job_runs_from_the_image_folder(
    image_folder, bucket: str, statements_file: Path, tmp_path: Path
) -> None:
    """Plan, every shard, reduce: the three task handlers the template names, from the image."""
    commands = [c for c in re.findall(r'Command: \["([\w.]+)"\]', TEMPLATE) if ".dataset_job." in c]
    assert commands == [f"lambda_function.dataset_job.{name}_handler" for name in ("plan", "shard", "reduce")]
    s3_client().upload_file(str(statements_file), bucket, "datasets/book/a.parquet")
    s3_client().upload_file(str(statements_file), bucket, "datasets/book/b.csv.gz")  # not gzip: a reported file
    job = {"input": f"s3://{bucket}/datasets/book/", "output": f"s3://{bucket}/scored/book/"}
    (tmp_path / "job.json").write_text(json.dumps(job))
    [plan] = _run(image_folder, commands[0], [tmp_path / "job.json"])["results"]
    assert plan["shards"] == 2 and plan["items"] == {"bucket": bucket, "key": "scored/book/_work/shards.json"}
    shards = json.loads(s3_client().get_object(Bucket=bucket, Key=plan["items"]["key"])["Body"].read())
    events = []
    for shard in shards:
        events.append(tmp_path / f"shard-{shard['index']}.json")
        events[-1].write_text(json.dumps({"shard": shard, "output": job["output"]}))
    results = _run(image_folder, commands[1], events)["results"]
    assert [r["status"] for r in results] == ["scored", "invalid_input"]
    (tmp_path / "reduce.json").write_text(json.dumps(plan))
    # The job fails (b.csv.gz is not gzip), after the summary is written.
    reduce = _image_process(image_folder, commands[2], str(tmp_path / "reduce.json"))
    assert reduce.returncode != 0 and "JobFailed" in reduce.stderr and "1 files not scored" in reduce.stderr
    summary = json.loads(s3_client().get_object(Bucket=bucket, Key="scored/book/_SUMMARY.json")["Body"].read())
    assert summary["customers_scored"] == 300 and "scored/book/part-00000.parquet" in keys_in(bucket)


SECOND_ROUND_FAULTS = """
import resource
def faults(): return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
counts = []
for _ in range(2):
    before = faults()
    for size in (1 << 20, 4 << 20, 16 << 20):  # the sizes of a batch's numpy arrays
        block = bytearray(size)
        del block
    counts.append(faults() - before)
print(counts[1])
"""


def test_the_image_keeps_freed_memory_for_the_next_array(image_folder) -> None:
    """The Dockerfile's GLIBC_TUNABLES: allocating the same arrays again finds their pages in
    place, where glibc's defaults hand them back to the kernel and fault them in anew."""
    python = image_folder[0]

    def second_round_faults(env: dict[str, str]) -> int:
        command = [python, "-I", "-S", "-c", SECOND_ROUND_FAULTS]
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stderr
        return int(result.stdout)

    assert "GLIBC_TUNABLES" in image_environment()
    assert second_round_faults(image_environment()) < 100
    assert second_round_faults({}) > 1000  # 16 MiB of 4 KiB pages faulted in again


def test_the_image_gets_only_what_it_runs(image_folder) -> None:
    """No SciPy (the xgboost package's dependency, never imported): the dependency folder stays small."""
    _, _, deps = image_folder
    assert not (deps / "scipy").exists() and (deps / "xgboost" / "lib").is_dir()
    size_mb = sum(path.stat().st_size for path in deps.rglob("*") if path.is_file()) / 2**20
    assert size_mb <= 300, f"{size_mb:.0f} MB"


def test_every_handler_the_template_names_imports_from_the_image_folder(image_folder) -> None:
    python, task, deps = image_folder
    commands = sorted(set(re.findall(r'Command: \["([\w.]+)"\]', TEMPLATE)) | {_cmd()})
    assert "lambda_function.deploy_hook.handler" in commands and len(commands) == 6
    check = "import importlib, sys; sys.path[:0] = sys.argv[1:3]\n" + "".join(
        f"m = importlib.import_module({c.rsplit('.', 1)[0]!r}); assert callable(getattr(m, {c.rsplit('.', 1)[1]!r}))\n"
        for c in commands
    )
    result = subprocess.run(
        [python, "-I", "-S", "-c", check, str(task), str(deps)], capture_output=True, text=True, cwd=task, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
