"""One measurement per process, so peak memory belongs to that measurement alone.

Prints one JSON line: seconds (in-process, after imports), customers, peak RSS, page faults.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
import time
from typing import Any


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def batch_variant(name: str) -> contextlib.AbstractContextManager[Any]:
    """One of the file path's departures from the plain way replaced by that way (issue #15)."""
    if name == "as-shipped":
        return contextlib.nullcontext()
    from unittest import mock  # only here: it imports asyncio, which the measured sides do not

    from lambda_function.files import statements

    if name == "batch-iterator":  # pyarrow's batch iterator instead of whole row groups

        def batches(parquet: Any, columns: list[str], groups: Any, batch_rows: int) -> Any:
            return parquet.iter_batches(batch_size=batch_rows, columns=columns, row_groups=groups)

        return mock.patch.object(statements, "row_group_batches", batches)
    raise ValueError(f"unknown variant {name!r}")


def batch_ours(args: argparse.Namespace) -> dict[str, Any]:
    # As the image runs it: libxgboost through ctypes, loaded inside the timing; the xgboost
    # Python package (and the SciPy it imports) never.
    with batch_variant(args.variant):
        return _batch_ours(args)


def _batch_ours(args: argparse.Namespace) -> dict[str, Any]:
    from lambda_function.core.scoring import Model
    from lambda_function.files.file_scoring import score_statements
    from lambda_function.files.predictions import write_predictions_file
    from lambda_function.files.statements import input_format, local_opener

    if args.imports_only:
        return {}
    start = time.perf_counter()
    model = Model(args.model).load()
    fmt = input_format(args.input)
    scored = score_statements(model, local_opener(args.input), fmt)
    write_predictions_file(scored, model, args.output)
    return {"seconds": time.perf_counter() - start, "customers": scored.customers, "rows": scored.rows_read}


def batch_floor(args: argparse.Namespace) -> dict[str, Any]:
    """The least any Python process that scores this file must do, and nothing more: start, import
    numpy and pyarrow, decode the columns scoring reads (whole row groups, pyarrow's threads), exit.
    No checks, no latest statement, no model, no output: a lower bound for ours' whole process."""
    import numpy  # noqa: F401
    import pyarrow as pa
    import pyarrow.compute  # noqa: F401  (ours needs it, as any reader that checks its input would)
    import pyarrow.parquet as pq

    if args.imports_only:
        return {}
    start = time.perf_counter()
    with open(f"{args.model}/preprocessing.json") as spec_file:
        spec = json.load(spec_file)
    needed = ["customer_ID", "S_2", *spec["numeric"], *spec["categorical"]]
    source = pa.OSFile(args.input, "rb")
    footer = pq.ParquetFile(source)  # read once, handed on, as ours does
    text = [name for name in needed if pa.types.is_string(footer.schema_arrow.field(name).type)]
    parquet = pq.ParquetFile(source, metadata=footer.metadata, read_dictionary=text)
    rows = sum(parquet.read_row_group(group, columns=needed).num_rows for group in range(parquet.num_row_groups))
    return {"seconds": time.perf_counter() - start, "customers": 0, "rows": rows}


def load_original(folder: str) -> tuple[Any, Any, Any]:
    import warnings

    import joblib

    from bench.legacy_model import FILES

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vectorizer, imputer, pipeline = (joblib.load(f"{folder}/{name}") for name in FILES)
    if not hasattr(imputer, "_fill_dtype"):  # scikit-learn 1.3 pickles lack what current transform reads
        imputer._fill_dtype = imputer._fit_dtype
    return vectorizer, imputer, pipeline


def batch_original(args: argparse.Namespace) -> dict[str, Any]:
    """The original notebook: pandas, drop_duplicates, imputer, astype(str), to_dict, DictVectorizer."""
    import pandas as pd
    import sklearn.pipeline  # noqa: F401
    import xgboost  # noqa: F401

    from amex_scoring.recipe import CATEGORICAL_INPUTS  # imports pandas: only on this side

    categorical = list(CATEGORICAL_INPUTS)
    if args.imports_only:
        return {}

    start = time.perf_counter()
    vectorizer, imputer, pipeline = load_original(args.legacy)
    frame = pd.read_parquet(args.input)
    rows = len(frame)
    frame = frame.drop_duplicates("customer_ID", keep="last")  # statements come in date order
    numeric = list(imputer.feature_names_in_)
    frame[numeric] = imputer.transform(frame[numeric])
    for name in ("D_63", "D_64"):  # pandas 3 keeps NaN through astype(str); the original got "None"
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None).map(str)
    frame[categorical] = frame[categorical].astype(str)
    features = [name for name in vectorizer.feature_names_ if "=" not in name] + categorical
    matrix = vectorizer.transform(frame[features].to_dict(orient="records"))
    probability = pipeline.predict_proba(matrix)[:, 1]
    pd.DataFrame({"customer_ID": frame["customer_ID"], "prediction": probability}).to_csv(args.output, index=False)
    return {"seconds": time.perf_counter() - start, "customers": len(frame), "rows": rows}


def batch_s3(args: argparse.Namespace) -> dict[str, Any]:
    """The S3 handler's code path: head, pyarrow S3 reads, scoring, one PUT each for output and summary."""
    import xgboost  # noqa: F401

    from lambda_function.batch.scorer import BatchScorer, S3Object
    from lambda_function.core.scoring import Model
    from lambda_function.settings import Settings

    start = time.perf_counter()
    scorer = BatchScorer(Model(args.model).load(), Settings.from_env())
    result = scorer.process(S3Object(args.bucket, args.key), lambda: 900_000)
    assert result["status"] == "scored", result
    return {"seconds": time.perf_counter() - start, "customers": result["customers"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=["batch-ours", "batch-floor", "batch-original", "batch-s3"])
    parser.add_argument("--model")
    parser.add_argument("--legacy")
    parser.add_argument("--input")
    parser.add_argument("--output")
    parser.add_argument("--bucket")
    parser.add_argument("--key")
    parser.add_argument("--memory-limit-gb", type=float)
    parser.add_argument("--variant", default="as-shipped", choices=["as-shipped", "batch-iterator"])
    # Import the task's code and leave: run untimed before a timed run, so that its libraries
    # are in the page cache whatever ran before it (the other side's gigabytes evict them).
    parser.add_argument("--imports-only", action="store_true")
    args = parser.parse_args()
    if args.memory_limit_gb:
        limit = int(args.memory_limit_gb * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    task = {
        "batch-ours": batch_ours,
        "batch-floor": batch_floor,
        "batch-original": batch_original,
        "batch-s3": batch_s3,
    }[args.task]
    try:
        result = task(args)
    except MemoryError as error:  # what running out of memory looks like under the address-space cap
        print(f"out of memory: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(3)
    result["peak_rss_mb"] = peak_rss_mb()
    result["page_faults"] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt  # pages the kernel mapped in
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
