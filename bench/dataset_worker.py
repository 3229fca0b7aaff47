"""The dataset job's claims (issue #12), each measured in a fresh process; prints one JSON line.

- `shards`: the rows of one file scored as shards (row-group ranges, read-ahead, parts,
  fingerprints, summaries) against the same file through the single-file path, alternating.
- `plan`: the plan step over many files on an S3 endpoint (footers read in parallel).
- `reduce`: the reduce step over a finished job's shard summaries on an S3 endpoint.
- `files`: score files one after another in one process, as `amex-scoring score` would.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def shards(args: argparse.Namespace) -> dict[str, Any]:
    from lambda_function.core.drift import drift_report
    from lambda_function.core.scoring import Model
    from lambda_function.core.summaries import quantiles
    from lambda_function.dataset.plan import plan_dataset, read_shards
    from lambda_function.dataset.shard import score_shard
    from lambda_function.files.file_scoring import score_statements
    from lambda_function.files.predictions import encode_predictions
    from lambda_function.files.statements import local_opener

    model = Model(args.model).load()
    reference = model.artifacts.reference if model.artifacts else None
    folder = Path(tempfile.mkdtemp(prefix="bench-shards-"))
    plan_dataset(str(Path(args.input).parent), str(folder / "out"), args.shard_rows, "incoming/", [args.input])
    planned = read_shards(str(folder / "out"))
    whole, sharded = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        scored = score_statements(model, local_opener(args.input), "parquet")  # what the batch function does
        encode_predictions(scored, model, "parquet")
        quantiles(scored.drift_inputs["score"])
        if reference is not None:
            drift_report(reference, scored.drift_inputs)
        whole.append(time.perf_counter() - start)
        start = time.perf_counter()
        customers = sum(score_shard(model, shard, str(folder / "out"))["customers_scored"] for shard in planned)
        sharded.append(time.perf_counter() - start)
        assert customers == scored.customers, (customers, scored.customers)
    return {"whole": whole, "sharded": sharded, "shards": len(planned), "rows": scored.rows_read}


def plan(args: argparse.Namespace) -> dict[str, Any]:
    from lambda_function.dataset.plan import plan_dataset

    start = time.perf_counter()
    found = plan_dataset(args.input, args.output, args.shard_rows, "incoming/")
    return {"seconds": time.perf_counter() - start, "files": found["files"], "shards": found["shards"]}


def reduce(args: argparse.Namespace) -> dict[str, Any]:
    from lambda_function.core.scoring import Model
    from lambda_function.dataset.reduce import reduce_job

    model = Model(args.model).load()
    start = time.perf_counter()
    result = reduce_job(model, args.output)
    return {"seconds": time.perf_counter() - start, "shards": result["shards"]}


def files(args: argparse.Namespace) -> dict[str, Any]:
    from lambda_function.core.scoring import Model
    from lambda_function.files.file_scoring import score_statements
    from lambda_function.files.predictions import write_predictions_file
    from lambda_function.files.statements import local_opener

    start = time.perf_counter()
    model = Model(args.model).load()
    out = Path(tempfile.mkdtemp(prefix="bench-files-"))
    customers = 0
    for path in sorted(Path(args.input).glob("*.parquet")):
        scored = score_statements(model, local_opener(path), "parquet")
        write_predictions_file(scored, model, out / f"{path.stem}.predictions.parquet")
        customers += scored.customers
    return {"seconds": time.perf_counter() - start, "customers": customers}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=["shards", "plan", "reduce", "files"])
    parser.add_argument("--model")
    parser.add_argument("--input")
    parser.add_argument("--output")
    parser.add_argument("--shard-rows", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    result = {"shards": shards, "plan": plan, "reduce": reduce, "files": files}[args.task](args)
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
