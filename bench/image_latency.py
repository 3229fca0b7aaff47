"""HTTP handler latency as the image runs it: its Python, its locked packages, nothing else.

Run as a script by the Lambda base image's Python in isolated mode (`-I -S`), with the
image's /var/task folder and pip target, so only the standard library and what the
Dockerfile installs can be imported:

    python3.12 -I -S bench/image_latency.py TASK DEPS RESULT_JSON NAME=EVENT_JSON ...

Writes p50/p99 per event, the versions that matter, and the one-row `Model.predict` probe
to RESULT_JSON (stdout carries the handler's logs and metrics, sent to /dev/null).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from typing import Any

ITERATIONS = {"1": (30, 2000), "100": (5, 200), "1000": (3, 60), "1000-inputs": (3, 60)}  # warm-up, measured


class Context:
    function_name = "bench-image"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-image"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main() -> None:
    task, deps, out, *named_events = sys.argv[1:]
    sys.path[:0] = [task, deps]
    from importlib.metadata import version

    events = {}
    for item in named_events:
        name, path = item.split("=", 1)
        with open(path) as file:
            events[name] = json.load(file)
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        from lambda_function.api import MODEL, handler

        customer = json.loads(events["1"]["body"])  # the same probe as the in-process section's
        probe_row = {name: [customer.get(name)] for name in MODEL.inputs}

        def probe() -> float:
            samples = []
            for _ in range(2000):
                start = time.perf_counter()
                MODEL.predict(probe_row, 1)
                samples.append((time.perf_counter() - start) * 1000)
            return percentile(samples, 0.5)

        result: dict[str, Any] = {
            "python": sys.version.split()[0],
            "versions": {name: version(name) for name in ("xgboost-cpu", "numpy", "pydantic-core", "fastapi")},
            "probe_ms": {"start": probe()},
            "latency": {},
        }
        for name, event in events.items():
            warmup, iterations = ITERATIONS[name]
            samples = []
            for index in range(warmup + iterations):
                start = time.perf_counter()
                response = handler(event, Context())
                elapsed = (time.perf_counter() - start) * 1000
                assert response["statusCode"] == 200, response["body"][:300]
                if index >= warmup:
                    samples.append(elapsed)
            result["latency"][name] = {"p50_ms": percentile(samples, 0.5), "p99_ms": percentile(samples, 0.99)}
        result["probe_ms"]["end"] = probe()
    with open(out, "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    main()
