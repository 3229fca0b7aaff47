"""What each of the HTTP function's departures from the frameworks' idioms buys, in one process.

Each variant replaces one departure by the idiomatic way and nothing else; the shipped handler
and the variants alternate in blocks, so a drift in the machine's speed hits all alike.
Prints one JSON line: p50 milliseconds per variant and request size.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from fastapi import Request  # at module level: FastAPI resolves the endpoint's annotations here

ROUNDS = 10
CALLS = int(os.environ.get("TRICK_CALLS", 3000))  # one-customer calls per variant; fewer for a smoke run
# warm-up, measured calls per variant; "1000-inputs": 1000 customers sending only the model's inputs
SIZES = {"1": (50, CALLS), "1000": (3, CALLS // 50), "1000-inputs": (3, CALLS // 20)}


@contextlib.contextmanager
def as_shipped() -> Iterator[None]:
    yield


def population(count: int) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    from amex_scoring.synth import write_synthetic

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.parquet"
        write_synthetic(path, count, statements=1, seed=99)
        rows = pq.read_table(path).to_pylist()
    return [{k: v for k, v in row.items() if v is not None} for row in rows]


def variants() -> dict[str, tuple[Callable[..., Any], Callable[[], contextlib.AbstractContextManager[None]]]]:
    """name -> (Lambda handler, context that holds while it is called)."""
    from aws_lambda_powertools import Metrics as PowertoolsMetrics
    from fastapi.responses import JSONResponse as StarletteJSONResponse
    from fastapi.routing import APIRoute

    from lambda_function.api import app as api
    from lambda_function.api import middleware
    from lambda_function.api.adapter import HttpAdapter
    from lambda_function.api.payload import explain_count
    from lambda_function.core.features import Vocabulary
    from lambda_function.handlers import api as served
    from lambda_function.telemetry import logger, metrics

    model, settings = served.HTTP.loaded.model, served.HTTP.loaded.settings

    def lambda_handler(app: Any, emf: Any = metrics) -> Callable[..., Any]:
        adapter = HttpAdapter(api.wrap(app), lifespan="off")
        return emf.log_metrics(logger.inject_lambda_context(clear_state=True)(adapter))  # type: ignore[no-any-return]

    async def predict_parsing_query(request: Request) -> Any:  # Starlette's QueryParams, always
        explain = explain_count(request.query_params.get("explain"))
        service = api._service(request)
        return api.JSONResponse(service.predict(await api._customers(request, single=False), explain))

    @contextlib.contextmanager
    def default_gc() -> Iterator[None]:
        gc.unfreeze()
        gc.set_threshold(700, 10, 10)
        try:
            yield
        finally:
            gc.freeze()
            gc.set_threshold(50_000, 20, 100)

    with mock.patch.object(api, "RequestRoute", APIRoute):
        fastapi_route = api.create_app(model, settings)
    with mock.patch.object(api, "predict", predict_parsing_query):
        query_parsed = api.create_app(model, settings)
    powertools = PowertoolsMetrics(namespace="AmexScoring", service="amex-scoring")
    return {
        "as shipped": (served.handler, as_shipped),
        "FastAPI's APIRoute instead of RequestRoute": (lambda_handler(fastapi_route), as_shipped),
        "query string always parsed": (lambda_handler(query_parsed), as_shipped),
        "Starlette's JSONResponse (json.dumps)": (
            served.handler,
            lambda: mock.patch.object(api, "JSONResponse", StarletteJSONResponse),
        ),
        "default garbage collection (no freeze, threshold 700)": (served.handler, default_gc),
        "powertools' Metrics instead of the EMF writer": (
            lambda_handler(served.HTTP.app, powertools),
            lambda: mock.patch.object(middleware, "metrics", powertools),
        ),
        # Each spelling of a category looked up anew, where the shipped lookup remembers up to
        # REMEMBERED_SPELLINGS of them per input (text at most 64 characters: core/rules.py).
        # The whole lookup is replaced: the shipped memo, warm from the other rows, would answer.
        "category lookups without the memo": (
            served.handler,
            lambda: mock.patch.object(Vocabulary, "positions", _positions_without_memo),
        ),
    }


def _positions_without_memo(self: Any, values: Any) -> Any:
    """Vocabulary.positions as shipped, less the memo: `index` for every value."""
    from lambda_function.core.features import _PLAIN_NUMBERS, VECTORISED_FROM

    if len(values) >= VECTORISED_FROM and set(map(type, values)) <= _PLAIN_NUMBERS:
        try:
            return self.number_positions(np.array(values, dtype=np.float64))
        except OverflowError:
            pass
    return [self.index(value) for value in values]


def measure(
    calls: dict[str, tuple[Callable[[], None], Any]], warmup: int, iterations: int
) -> dict[str, dict[str, float]]:
    import time

    samples: dict[str, list[float]] = {name: [] for name in calls}
    for call, context in calls.values():
        with context():
            for _ in range(warmup):
                call()
    block = max(1, iterations // ROUNDS)
    for _ in range(ROUNDS):
        for name, (call, context) in calls.items():
            gc.collect()
            with context():
                for _ in range(block):
                    start = time.perf_counter()
                    call()
                    samples[name].append((time.perf_counter() - start) * 1000)
    ordered = {name: sorted(found) for name, found in samples.items()}
    return {
        name: {"p50_ms": found[len(found) // 2], "p99_ms": found[min(len(found) - 1, int(len(found) * 0.99))]}
        for name, found in ordered.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    os.environ.update(MODEL_URI=args.model, POWERTOOLS_LOG_LEVEL="INFO")

    from amex_scoring.events import http_api_v2
    from amex_scoring.invoke import LambdaContext

    with contextlib.redirect_stdout(io.StringIO()):
        found = variants()
    customers = population(1000)
    results: dict[str, Any] = {}
    sink = open(os.devnull, "w")  # noqa: SIM115  (the logs and EMF lines CloudWatch would get)
    for size, (warmup, iterations) in SIZES.items():
        sample = customers[: int(size.split("-")[0])]
        if size.endswith("-inputs"):
            from lambda_function.handlers.api import HTTP

            assert HTTP.loaded.model is not None
            keep = {"customer_ID", "S_2", *HTTP.loaded.model.inputs}
            codes = set(HTTP.loaded.model.pipeline.vocabularies)  # spelt as text, as the HTTP section's body does
            sample = [
                {name: str(float(v)) if name in codes and not isinstance(v, str) else v for name, v in c.items()}
                for c in ({name: value for name, value in c.items() if name in keep} for c in sample)
            ]
        event = http_api_v2("POST", "/v1/predict", json.dumps({"customers": sample}))
        calls = {}
        for name, (handler, context) in found.items():

            def call(handler: Callable[..., Any] = handler, event: dict[str, Any] = event) -> None:
                response = handler(event, LambdaContext("api", 30))
                assert response["statusCode"] == 200, response["body"][:300]

            calls[name] = (call, context)
        with contextlib.redirect_stdout(sink):
            results[size] = measure(calls, warmup, iterations)
    print(json.dumps(results))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
