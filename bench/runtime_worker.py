"""The in-process side of "as Lambda runs it" (bench/lambda_runtime.py), run by the image's Python
on the image's folders: the handler called directly, as the runtime client would call it.

    python3.12 -S -m bench.runtime_worker HANDLER RUNS EVENT_JSON   (cwd: /var/task)

Prints `ready` when the handler's module is imported (the span the emulator's init covers; with
RUNS 0 it then leaves), then one JSON line: the median milliseconds of RUNS calls of the handler
on the event, after one untimed call.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import statistics
import sys
import time
from pathlib import Path


def main() -> None:
    handler_path, runs, event_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    module, name = handler_path.rsplit(".", 1)
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        handler = getattr(importlib.import_module(module), name)
    print("ready", flush=True)
    if runs == 0:  # a cold start alone: Lambda keeps the process, so its teardown is no part of it
        os._exit(0)
    from amex_scoring.invoke import LambdaContext

    event = json.loads(Path(event_file).read_text())
    samples = []
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):  # logs and metrics
        for _ in range(runs + 1):
            started = time.perf_counter()
            handler(event, LambdaContext("bench", 900))
            samples.append((time.perf_counter() - started) * 1000)
    print(json.dumps({"median_ms": statistics.median(samples[1:])}))


if __name__ == "__main__":
    main()
