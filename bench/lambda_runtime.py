"""As Lambda runs it: the runtime's cold start and warm duration beside the handler in process.

One side is a function of template.yaml under AWS's runtime interface client behind AWS's Runtime
Interface Emulator (amex_scoring/lambda_runtime.py), whose REPORT lines give the init phase and
each invocation's duration; the other is the same handler, on the same image folders and
interpreter, called directly in a process of its own (bench/runtime_worker.py). Both read the
same model and the same S3 (moto's server on 127.0.0.1). The sides alternate, round by round.

Cold start: the emulator's init phase (from starting the runtime process to its first poll for
work) against a fresh process's span from spawn to the handler imported. Warm: the REPORT
`Duration` of one customer, 1000 customers as V2 binary tensors and a 20,000-customer file,
against the handler's own time on the same event. The file is read through moto's server, which copies
the whole object on every ranged read: its row says what the runtime adds, not what S3 takes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from amex_scoring.image import ImageFolder, image_environment
from amex_scoring.lambda_runtime import LambdaRuntime, template_functions

from .common import ROOT, median

FUNCTIONS = {
    "ScoreApiFunction": "lambda_function.handlers.api.handler",
    "ScoreFileFunction": "lambda_function.handlers.batch.handler",
}


def _events(model: Path, folder: Path, bucket: str, file_key: str, customers: int) -> dict[str, tuple[str, Path, int]]:
    """name -> (function, event file, warm runs per round)."""
    from amex_scoring.events import http_api_v2, s3_put, v2_infer
    from bench.tricks_worker import population

    name = json.loads((model / "manifest.json").read_text())["name"]
    events = {
        "1 customer, /v1/predict": ("ScoreApiFunction", http_api_v2("POST", "/v1/predict", population(1)[0]), 200),
        "1000 customers, V2 binary": ("ScoreApiFunction", v2_infer(population(1000), binary=True, model=name), 20),
        f"a {customers:,}-customer file, from S3 (moto)": ("ScoreFileFunction", s3_put(file_key, bucket=bucket), 1),
    }
    found = {}
    for label, (function, event, runs) in events.items():
        path = folder / f"{len(found)}.json"
        path.write_text(json.dumps(event))
        found[label] = (function, path, runs)
    return found


def _in_process(image: ImageFolder, environment: dict[str, str], handler: str, runs: int, event: Path) -> float:
    """With runs 0: seconds from spawn to the handler imported; else the median call in ms."""
    env = {**os.environ, **environment, "PYTHONPATH": f"{image.dependencies}{os.pathsep}{ROOT}"}
    command = [image.python, "-S", "-m", "bench.runtime_worker", handler, str(runs), str(event)]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=image.task, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    ready = time.perf_counter() - started
    output = process.stdout.read()
    if process.wait() != 0:
        raise RuntimeError(f"{handler} failed in process")
    return ready if runs == 0 else float(json.loads(output.strip().splitlines()[-1])["median_ms"])


def _runtime_round(
    image: ImageFolder, environment: dict[str, str], events: dict[str, tuple[str, Path, int]], log: Path
) -> dict[str, Any]:
    """A fresh execution environment per function: its init, then its warm durations."""
    specs = template_functions()
    found: dict[str, Any] = {"init_ms": {}, "duration_ms": {}, "round_trip_ms": {}}
    for function in FUNCTIONS:
        with LambdaRuntime(specs[function], image, environment, log) as runtime:
            mine = {label: spec for label, spec in events.items() if spec[0] == function}
            for n, (label, (_, path, runs)) in enumerate(mine.items()):
                body = path.read_bytes()
                first = runtime.invoke(body)
                assert first.error is None, first.error
                if n == 0:
                    found["init_ms"][function] = first.milliseconds("Init")
                durations, trips = [], []
                for _ in range(runs):
                    started = time.perf_counter()
                    invocation = runtime.invoke(body)
                    trips.append((time.perf_counter() - started) * 1000)
                    durations.append(invocation.milliseconds("Duration"))
                found["duration_ms"][label] = median(durations)
                found["round_trip_ms"][label] = median(trips)
    return found


def bench_lambda_runtime(model: Path, statements: Path, rounds: int) -> dict[str, Any]:
    import logging

    import boto3
    import pyarrow.parquet as pq
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    folder = Path(tempfile.mkdtemp(prefix="lambda-runtime-"))
    image = ImageFolder.build(folder / "var-task")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    environment = {**image_environment(), **credentials, "AWS_ENDPOINT_URL_S3": endpoint, "MODEL_URI": str(model)}
    environment |= {"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_LOG_LEVEL": "INFO", "CAPTURE_URI": ""}  # capture off
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **_lower(credentials))
        s3.create_bucket(Bucket="bench")
        s3.upload_file(str(statements), "bench", "incoming/bench.parquet")
        customers = len(pq.read_table(statements, columns=["customer_ID"])["customer_ID"].unique())
        events = _events(model, folder, "bench", "incoming/bench.parquet", customers)
        runtime: list[dict[str, Any]] = []
        in_process: list[dict[str, Any]] = []
        for _ in range(rounds):
            runtime.append(_runtime_round(image, environment, events, folder / "emulator.log"))
            any_event = next(iter(events.values()))[1]
            ready = {f: _in_process(image, environment, h, 0, any_event) * 1000 for f, h in FUNCTIONS.items()}
            calls = {
                label: _in_process(image, environment, FUNCTIONS[f], n, path) for label, (f, path, n) in events.items()
            }
            in_process.append({"ready_ms": ready, "call_ms": calls})
    finally:
        server.stop()
    return _summary(runtime, in_process, rounds, {label: spec[1].stat().st_size for label, spec in events.items()})


def _lower(credentials: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in credentials.items()}


def _summary(
    runtime: list[dict[str, Any]], in_process: list[dict[str, Any]], rounds: int, event_bytes: dict[str, int]
) -> dict[str, Any]:
    def over_rounds(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
        return {name: median([row[key][name] for row in rows]) for name in rows[0][key]}

    return {
        "rounds": rounds,
        "init_ms": over_rounds(runtime, "init_ms"),
        "ready_ms": over_rounds(in_process, "ready_ms"),
        "duration_ms": over_rounds(runtime, "duration_ms"),
        "round_trip_ms": over_rounds(runtime, "round_trip_ms"),
        "call_ms": over_rounds(in_process, "call_ms"),
        "event_bytes": event_bytes,
    }
