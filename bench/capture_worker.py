"""#31's two goals, each measured in a process of its own (`make bench` runs them; bench/report.py
writes them out):

- `overhead`: what capture adds to an HTTP answer. The HTTP function's Lambda handler in process,
  on the same API Gateway events, without capture and with it, in alternating blocks. With capture
  the handler keeps the request's decisions and the records are built and written after the answer
  (under Lambda by the delivery extension), so the answer's time is what the caller waits for and
  the delivery's is billed after it: both are reported.
- `captures` writes 1,000,000 capture records as the HTTP path does (every input, as received and as
  used) and `monitor` summarises them against the model's reference: seconds and peak memory.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import io
import json
import math
import os
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

SIZES = {1: (30, 2000), 1000: (3, 60)}  # customers: warm-up, measured requests per side
ROUNDS = 10  # the sides alternate in blocks, so a drift in the machine's speed hits both alike


def _customers(model: Any, count: int, seed: int) -> list[dict[str, Any]]:
    """Synthetic customers with the fields the model reads, a missing value as null."""
    import pyarrow.parquet as pq

    from amex_scoring.synth import write_synthetic

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.parquet"
        write_synthetic(path, count, statements=1, seed=seed)
        rows = pq.read_table(path, columns=["customer_ID", "S_2", *model.inputs]).to_pylist()
    return [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()} for row in rows]


def _p50(samples: list[float]) -> float:
    return sorted(samples)[len(samples) // 2]


def _answer(handler: Any, event: dict[str, Any], after: Any) -> tuple[float, float]:
    """Milliseconds to the answer, then for what runs after it (the records' delivery)."""
    from amex_scoring.invoke import LambdaContext

    start = time.perf_counter()
    answer = handler.handler(event, LambdaContext("api", 30))
    answered = time.perf_counter()
    assert answer["statusCode"] == 200, answer["body"][:300]
    after()
    return (answered - start) * 1000, (time.perf_counter() - answered) * 1000


def overhead(model_uri: str) -> dict[str, Any]:
    from amex_scoring.events import http_api_v2
    from lambda_function.api.app import HttpHandler
    from lambda_function.core.scoring import Loaded, Model
    from lambda_function.monitoring.recorder import CaptureRecorder
    from lambda_function.settings import Settings

    model = Model(model_uri).load()
    plain, captured = HttpHandler(Loaded(Settings(), model)), HttpHandler(Loaded(Settings(), model))
    folder = tempfile.mkdtemp(prefix="captures-")
    recorder = CaptureRecorder(model, folder)
    captured.app.state.service.capture = recorder
    captured._answered = threading.Event().set  # what the delivery extension's done() costs the handler
    population = _customers(model, max(SIZES), seed=99)
    results: dict[str, Any] = {"model_inputs": len(model.inputs)}
    for size, (warmup, requests) in SIZES.items():
        body = json.dumps(population[0] if size == 1 else {"customers": population[:size]})
        event = http_api_v2("POST", "/v1/predict", body)
        samples: dict[str, list[float]] = {"off": [], "on": [], "delivery": []}
        with contextlib.redirect_stdout(io.StringIO()):
            warmed = [_answer(plain, event, lambda: None) for _ in range(warmup)]
            warmed += [_answer(captured, event, recorder.flush) for _ in range(warmup)]
            # Both sides leave the same gap after each answer: the delivery's time, spent idle on
            # one side and building and writing records on the other. Any gap slows the next
            # request on this machine (an 11 ms sleep costs about 1 ms), so only the same gap
            # leaves the delivery's own effect.
            gap = _p50([delivered for _, delivered in warmed[warmup:]]) / 1000
            for _ in range(ROUNDS):
                for side, handler, after in (
                    ("off", plain, partial(time.sleep, gap)),
                    ("on", captured, recorder.flush),
                ):
                    gc.collect()
                    for _ in range(max(1, requests // ROUNDS)):
                        answered, delivered = _answer(handler, event, after)
                        samples[side].append(answered)
                        if side == "on":
                            samples["delivery"].append(delivered)
        results[str(size)] = {name: _p50(values) for name, values in samples.items()}
        results[str(size)] |= {"requests": requests, "gap_ms": gap * 1000}
    return results


def write_captures(model_uri: str, out: str, records: int) -> dict[str, Any]:
    """`records` capture records as the HTTP path writes them, in files of 100,000 under one day."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from lambda_function.core.scoring import Model
    from lambda_function.monitoring.capture import capture_table
    from lambda_function.monitoring.decisions import Decisions
    from lambda_function.monitoring.delivery import FolderSink

    model = Model(model_uri).load()
    tables = []
    population = _customers(model, 10_000, seed=7)
    for start in range(0, len(population), 1000):
        chunk = population[start : start + 1000]
        ids = [c["customer_ID"] for c in chunk]
        columns = {name: [c.get(name) for c in chunk] for name in model.inputs}
        scores = model.predict(columns, len(chunk))
        when = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
        dates = [dt.date.fromisoformat(str(c["S_2"])[:10]) for c in chunk]
        decisions = Decisions("v1", "bench", when, ids, dates, columns, scores, scores.encoded.warnings)
        tables.append(capture_table(model, decisions))
    base = pa.concat_tables(tables)
    sink, started = FolderSink(out), time.perf_counter()
    per_file = 100_000
    for first in range(0, records, per_file):
        parts = []
        for copy in range(first // base.num_rows, (first + per_file) // base.num_rows):
            ids = pc.binary_join_element_wise(base["customer_ID"], pa.scalar(f"-{copy}"), "")
            parts.append(base.set_column(base.schema.get_field_index("customer_ID"), "customer_ID", ids))
        sink.write(pa.concat_tables(parts), "http")
    return {"records": records, "seconds": time.perf_counter() - started}


def monitor(model_uri: str, captures: str) -> dict[str, Any]:
    from bench.worker import peak_rss_mb
    from lambda_function.core.scoring import Model
    from lambda_function.monitoring.monitor import summarise

    model = Model(model_uri).load()
    started = time.perf_counter()
    report = summarise(model, captures)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "decisions": report["decisions"],
        "records_with_inputs": report["drift"].get("records_with_inputs"),
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=["overhead", "captures", "monitor"])
    parser.add_argument("--model", required=True)
    parser.add_argument("--captures")
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    if args.task == "overhead":
        result = overhead(args.model)
    elif args.task == "captures":
        result = write_captures(args.model, args.captures, args.records)
    else:
        result = monitor(args.model, args.captures)
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
