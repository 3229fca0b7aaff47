"""V2 (Open Inference Protocol) latency against /v1/predict, in one process, alternating blocks.

1000 customers with every field of a synthetic statement: /v1 row JSON, V2 JSON, V2 binary
tensors; msgspec's bare decode of the /v1 body as the floor; and one customer, /v1 against V2
JSON. Prints one JSON line of p50 milliseconds.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def measure(calls: dict[str, Callable[[], Any]], iterations: int) -> dict[str, float]:
    """p50 milliseconds of each call, in the HTTP benchmark's alternating blocks."""
    from bench.http_worker import summary, timings

    return {name: summary(found)["p50_ms"] for name, found in timings(calls, 3, iterations).items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--iterations", type=int, default=100)
    args = parser.parse_args()
    os.environ.update(MODEL_URI=args.model, POWERTOOLS_LOG_LEVEL="INFO")
    import msgspec
    import pybase64

    from amex_scoring.events import http_api_v2, v2_infer
    from amex_scoring.invoke import LambdaContext
    from bench.tricks_worker import population

    with contextlib.redirect_stdout(io.StringIO()):
        from lambda_function.handlers.api import handler
    customers = population(1000)
    name = json.loads((Path(args.model) / "manifest.json").read_text())["name"]

    def call(event: dict[str, Any]) -> Callable[[], None]:
        def run() -> None:
            response = handler(event, LambdaContext("api", 30))
            assert response["statusCode"] == 200, response["body"][:300]

        return run

    v1_body = json.dumps({"customers": customers})
    v1 = http_api_v2("POST", "/v1/predict", v1_body)
    binary = v2_infer(customers, binary=True, model=name)
    results: dict[str, Any] = {}
    sink = open(os.devnull, "w")  # noqa: SIM115
    with contextlib.redirect_stdout(sink):
        results["1000"] = measure(
            {
                "/v1/predict, row JSON": call(v1),
                "V2, JSON tensors": call(v2_infer(customers, binary=False, model=name)),
                "V2, binary tensors": call(binary),
                "msgspec decode of the /v1 body alone": lambda: msgspec.json.decode(v1_body.encode()),
                # API Gateway and function URLs hand a binary body to Lambda base64-encoded; the
                # handler decodes it with pybase64, where Mangum would use binascii:
                "base64 decode of the binary body alone, pybase64 (as the handler does)": lambda: pybase64.b64decode(
                    binary["body"], validate=True
                ),
                "base64 decode of the binary body alone, binascii (as Mangum would)": lambda: base64.b64decode(
                    binary["body"]
                ),
            },
            args.iterations,
        )
        one = customers[:1]
        v1_one, v2_one = http_api_v2("POST", "/v1/predict", one[0]), v2_infer(one, binary=False, model=name)
        results["1"] = measure(
            {
                "/v1/predict, row JSON": call(v1_one),
                "V2, JSON tensors": call(v2_one),
                "msgspec decode of the /v1 body alone": lambda: msgspec.json.decode(v1_one["body"].encode()),
                "msgspec decode of the V2 body alone": lambda: msgspec.json.decode(v2_one["body"].encode()),
            },
            args.iterations * 20,
        )
    print(json.dumps(results))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
