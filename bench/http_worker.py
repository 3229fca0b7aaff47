"""In-process HTTP latency: an API Gateway event in, the response out.

Ours: the Lambda handler (Mangum + FastAPI + the columnar pipeline).
Baseline: the original Flask service's approach, `DictVectorizer.transform` +
`predict_proba` behind Flask's test client, with the same customers.
Prints one JSON line with p50/p99 per batch size for both.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import math
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

SIZES = {1: (30, 2000), 100: (5, 200), 1000: (3, 60)}  # warm-up, measured iterations per side
ITERATIONS = {**{str(size): counts for size, counts in SIZES.items()}, "1000-inputs": SIZES[1000]}
ROUNDS = 10  # the two sides alternate in blocks, so a drift in the machine's speed hits both alike


def customers(count: int, imputer: Any) -> list[dict[str, Any]]:
    """Synthetic customers with all 190 fields, categoricals as strings as the original clients sent them."""
    import pyarrow.parquet as pq

    from amex_scoring.synth import write_synthetic
    from lambda_function.core.schema import CATEGORICAL

    medians = dict(zip(imputer.feature_names_in_, imputer.statistics_, strict=True))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.parquet"
        write_synthetic(path, count, statements=1, seed=99)
        rows = pq.read_table(path).to_pylist()
    out = []
    for row in rows:  # the original service did not impute: send complete customers
        record = {}
        for key, value in row.items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                value = medians.get(key, "None")
            record[key] = str(float(value)) if key in CATEGORICAL and not isinstance(value, str) else value
        out.append(record)
    return out


def timings(calls: dict[str, Any], warmup: int, iterations: int) -> dict[str, list[float]]:
    """Milliseconds per call for each side, measured in alternating blocks."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        for _ in range(warmup):
            call()
    block = max(1, iterations // ROUNDS)
    for _ in range(ROUNDS):
        for name, call in calls.items():
            # Untimed: each side's cyclic garbage (Flask's requests leave some, ours none) is
            # collected before the other side's block, not during its calls.
            gc.collect()
            for _ in range(block):
                start = time.perf_counter()
                call()
                samples[name].append((time.perf_counter() - start) * 1000)
    return samples


def probe(call: Any, calls: int = 2000) -> float:
    """Median milliseconds of a fixed piece of work: how fast the machine is at this moment."""
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return sorted(samples)[len(samples) // 2]


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": ordered[len(ordered) // 2],
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "n": len(ordered),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--legacy", required=True)
    parser.add_argument("--events-out", help="also write each size's event here, as NAME.json")
    args = parser.parse_args()
    os.environ.update(MODEL_URI=args.model, POWERTOOLS_LOG_LEVEL="INFO")  # default MAX_BODY_BYTES

    from flask import Flask, jsonify, request

    from amex_scoring.events import http_api_v2
    from amex_scoring.invoke import LambdaContext
    from bench.worker import load_original

    vectorizer, imputer, pipeline = load_original(args.legacy)
    with contextlib.redirect_stdout(io.StringIO()):
        from lambda_function.handlers.api import handler

    flask_app = Flask("original")

    @flask_app.post("/predict")
    def predict() -> Any:
        body = request.get_json()
        batch = body if isinstance(body, list) else [body]
        probability = pipeline.predict_proba(vectorizer.transform(batch))[:, 1]
        answers = [{"creditworthiness": float(p), "customer_default": bool(p >= 0.5)} for p in probability]
        return jsonify(answers if isinstance(body, list) else answers[0])

    client = flask_app.test_client()
    population = customers(max(SIZES), imputer)
    results: dict[str, Any] = {"ours": {}, "flask": {}, "body_bytes": {}, "event_bytes": {}}
    sink = open(os.devnull, "w")  # noqa: SIM115  (the logs and EMF lines CloudWatch would get)
    from lambda_function.handlers.api import HTTP

    MODEL = HTTP.loaded.model

    probe_customer = {name: [population[0].get(name)] for name in MODEL.inputs}
    results["probe_ms"] = {"start": probe(lambda: MODEL.predict(probe_customer, 1))}
    results["model_inputs"] = len(MODEL.inputs)
    lean = {"customer_ID", "S_2", *MODEL.inputs}  # a client that sends only what the model reads
    cases = [(str(size), population[:size], warmup, iterations) for size, (warmup, iterations) in SIZES.items()]
    inputs_only = [{k: v for k, v in c.items() if k in lean} for c in population[:1000]]
    cases.append(("1000-inputs", inputs_only, *ITERATIONS["1000-inputs"]))
    for name, sample, warmup, iterations in cases:
        size = len(sample)
        ours_body = json.dumps(sample[0] if size == 1 else {"customers": sample})
        flask_body = json.dumps(sample[0] if size == 1 else sample)
        event = http_api_v2("POST", "/v1/predict", ours_body)
        if args.events_out:
            Path(args.events_out, f"{name}.json").write_text(json.dumps(event))

        def call_ours(event: dict[str, Any] = event) -> None:
            response = handler(event, LambdaContext("api", 30))
            assert response["statusCode"] == 200, response["body"][:300]

        def call_flask(body: str = flask_body) -> None:
            response = client.post("/predict", data=body, content_type="application/json")
            assert response.status_code == 200

        with contextlib.redirect_stdout(sink):
            samples = timings({"ours": call_ours, "flask": call_flask}, warmup, iterations)
        results["ours"][name] = summary(samples["ours"])
        results["flask"][name] = summary(samples["flask"])
        results["body_bytes"][name] = len(ours_body)
        results["event_bytes"][name] = len(json.dumps(event).encode())  # what Lambda's 6 MB limit counts
        if name == "1000":  # the floor for this body: decoding and type-checking it, nothing else
            from lambda_function.api.payload import FULL_STATEMENTS

            decode = partial(FULL_STATEMENTS.batch.decode, ours_body.encode())
            results["parse_1000_ms"] = probe(decode, calls=20)
    results["probe_ms"]["end"] = probe(lambda: MODEL.predict(probe_customer, 1))
    print(json.dumps(results))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
