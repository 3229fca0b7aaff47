"""HTTP handler latency as the image runs it: its Python, its locked packages, nothing else.

Run as a script by the Lambda base image's Python in isolated mode (`-I -S`), with the
image's /var/task folder and pip target first on the path, so the handler imports only the
standard library and what the Dockerfile installs; this repository comes last, for the
benchmark's own helpers (standard library only):

    python3.12 -I -S bench/image_latency.py TASK DEPS RESULT_JSON NAME=EVENT_JSON ...

Writes p50/p99 per event, the versions that matter, and the one-row `Model.predict` probe
to RESULT_JSON (stdout carries the handler's logs and metrics, sent to /dev/null).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any


def main() -> None:
    task, deps, out, *named_events = sys.argv[1:]
    sys.path[:0] = [task, deps]
    sys.path.append(str(Path(__file__).resolve().parent.parent))
    from importlib.metadata import version

    from amex_scoring.invoke import LambdaContext
    from bench.http_worker import ITERATIONS, probe, summary, timings

    events = {}
    for item in named_events:
        name, path = item.split("=", 1)
        events[name] = json.loads(Path(path).read_text())
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        from lambda_function.handlers.api import HTTP, handler

        MODEL = HTTP.loaded.model

        customer = json.loads(events["1"]["body"])  # the same probe as the in-process section's
        probe_row = {name: [customer.get(name)] for name in MODEL.inputs}
        result: dict[str, Any] = {
            "python": sys.version.split()[0],
            "versions": {name: version(name) for name in ("xgboost-cpu", "numpy", "pydantic-core", "fastapi")},
            "probe_ms": {"start": probe(lambda: MODEL.predict(probe_row, 1))},
            "latency": {},
        }
        for name, event in events.items():

            def call(event: dict[str, Any] = event) -> None:
                response = handler(event, LambdaContext("api", 30))
                assert response["statusCode"] == 200, response["body"][:300]

            samples = timings({"ours": call}, *ITERATIONS[name])["ours"]
            result["latency"][name] = summary(samples)
        result["probe_ms"]["end"] = probe(lambda: MODEL.predict(probe_row, 1))
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
