"""`make bench`: every speed and memory claim, measured in one run, written to docs/benchmarks.md.

Each side of a comparison runs in its own fresh process, on the same input, in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

from amex_scoring.image import image_environment, lambda_python, runtime_dependencies, task_folder
from lambda_function.settings import Settings

from .common import CACHE, ROOT, folder_size_mb, machine, median, run_worker, warm
from .http_worker import ITERATIONS
from .lambda_runtime import bench_lambda_runtime
from .legacy_model import FILES, imported_model, legacy_pickles

DATA = CACHE / "data"
KAGGLE_CUSTOMERS = 924_621  # the Kaggle test set: 11,363,762 statement rows of 924,621 customers
ORIGINAL_STACK = ["flask", "pandas", "scikit-learn", "xgboost", "joblib", "numpy"]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def synthetic(customers: int, seed: int) -> Path:
    path = DATA / f"statements-{customers}-{seed}.parquet"
    if not path.exists():
        from amex_scoring.synth import write_synthetic

        log(f"writing {customers} synthetic customers to {path}")
        write_synthetic(path, customers, seed=seed)
    return path


def repeat(runs: int, args: list[str], **kwargs: Any) -> list[dict[str, Any]]:
    return [run_worker(args, **kwargs) for _ in range(runs)]


def warmed_run(args: list[str], path: Path, **where: Any) -> dict[str, Any]:
    """A timed worker run after an untimed one that only imports its side's code, and after
    reading its input: it starts with its libraries and its input in the page cache."""
    run_worker([*args, "--imports-only"], **where)
    warm(path)
    return run_worker(args, **where)


def batch_summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in results if r["ok"]]
    if not good:
        return {"ok": False, "error": results[-1]["error"], "runs": len(results)}
    seconds = median([r["seconds"] for r in good])
    return {
        "ok": True,
        "runs": len(good),
        "seconds": seconds,
        "customers": good[0]["customers"],
        "rows": good[0].get("rows"),
        "customers_per_second": good[0]["customers"] / seconds,
        "peak_rss_mb": median([r["peak_rss_mb"] for r in good]),
        "page_faults": median([r.get("page_faults", 0) for r in good]),
        "process_seconds": median([r["process_seconds"] for r in good]),
    }


def bench_files(
    model: Path, legacy: Path, customers: int, runs: int, original_runs: int, original_limit_gb: float | None
) -> dict[str, Any]:
    """The three sides alternate, round by round, so a drift in the machine's speed hits all alike."""
    path = synthetic(customers, seed=2024)
    out = Path(tempfile.mkdtemp(prefix="bench-out-"))
    python = lambda_python()
    image_paths = [task_folder(out / "task", python), runtime_dependencies(python)]

    def ours(output: str, **where: Any) -> dict[str, Any]:
        args = ["batch-ours", "--model", str(model), "--input", str(path), "--output", output]
        return warmed_run(args, path, **where)

    sides: dict[str, list[dict[str, Any]]] = {"ours_image": [], "ours": [], "original": [], "floor": []}
    for round_ in range(max(runs, original_runs)):
        log(f"batch, {customers} customers: round {round_ + 1}")
        if round_ < runs:
            image = {"python": python, "only_paths": image_paths, "environment": image_environment()}
            sides["ours_image"].append(ours(str(out / "ours-image.csv"), **image))
            sides["ours"].append(ours(str(out / "ours.csv")))
            floor = ["batch-floor", "--model", str(model), "--input", str(path)]
            sides["floor"].append(warmed_run(floor, path, **image))
        if round_ < original_runs:
            original_args = ["--legacy", str(legacy), "--input", str(path), "--output", str(out / "original.csv")]
            original = warmed_run(["batch-original", *original_args], path, memory_limit_gb=original_limit_gb)
            sides["original"].append(original)
    ours_image, ours_venv, original, floor_summary = (batch_summary(found) for found in sides.values())
    parity = None
    if ours_venv["ok"] and original["ok"]:
        import pandas as pd

        a = pd.read_csv(out / "ours.csv").set_index("customer_ID")["prediction"]
        b = pd.read_csv(out / "original.csv").set_index("customer_ID")["prediction"]
        parity = float((a.loc[b.index] - b).abs().max())
    same_output = (out / "ours.csv").read_bytes() == (out / "ours-image.csv").read_bytes() if ours_image["ok"] else None
    return {
        "file": path.name,
        "file_mb": path.stat().st_size / 2**20,
        "ours": ours_image,
        "ours_venv": ours_venv,
        "image_python": python,
        "original": original,
        "floor": floor_summary,
        "max_abs_difference": parity,
        "image_output_identical": same_output,
        "original_memory_limit_gb": original_limit_gb,
    }


def _moto_process() -> tuple[subprocess.Popen[bytes], str]:
    """moto's S3 server in its own process, so it shares no memory with what is measured."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return server, endpoint


def bench_s3(model: Path, customers: int, runs: int) -> dict[str, Any]:
    path = synthetic(customers, seed=2024)
    server, endpoint = _moto_process()
    environment = {
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        with mock.patch.dict(os.environ, environment):  # the workers inherit it; restored after
            import boto3

            s3 = boto3.client("s3")
            s3.create_bucket(Bucket="bench")
            log(f"uploading {path.stat().st_size / 2**20:.0f} MB to the local S3 endpoint")
            s3.upload_file(str(path), "bench", "incoming/bench.parquet")
            log(f"batch through the S3 handler's code path x{runs}")
            remote = repeat(
                runs, ["batch-s3", "--model", str(model), "--bucket", "bench", "--key", "incoming/bench.parquet"]
            )
    finally:
        server.terminate()
        server.wait()
    log(f"the same file from local disk x{runs}")
    local = repeat(
        runs,
        [
            "batch-ours",
            "--model",
            str(model),
            "--input",
            str(path),
            "--output",
            str(Path(tempfile.mkdtemp()) / "out.parquet"),
        ],
    )
    return {
        "customers": customers,
        "file_mb": path.stat().st_size / 2**20,
        "s3": batch_summary(remote),
        "local": batch_summary(local),
    }


def bench_http(model: Path, legacy: Path) -> dict[str, Any]:
    log("HTTP latency, in process")
    events = Path(tempfile.mkdtemp(prefix="http-events-"))
    result = subprocess.run(
        [sys.executable, "-m", "bench.http_worker", "--model", str(model), "--legacy", str(legacy)]
        + ["--events-out", str(events)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=3600,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    http = json.loads(result.stdout.strip().splitlines()[-1])
    http["image"] = bench_http_image(model, events)
    return http


def bench_http_image(model: Path, events: Path) -> dict[str, Any]:
    """Our handler on the same events, run by the image's Python with only the image's packages."""
    python = lambda_python()
    log(f"HTTP latency as the image runs it ({python})")
    deps = runtime_dependencies(python)
    subprocess.run([python, "-m", "compileall", "-q", str(deps)], check=True)  # as the Dockerfile does
    task = task_folder(Path(tempfile.mkdtemp(prefix="var-task-")), python)
    out = events / "image-result.json"
    named = [f"{name}={events / f'{name}.json'}" for name in ITERATIONS]
    subprocess.run(
        [python, "-I", "-S", str(ROOT / "bench" / "image_latency.py"), str(task), str(deps), str(out), *named],
        check=True,
        env={**os.environ, **image_environment(), "MODEL_URI": str(model), "POWERTOOLS_LOG_LEVEL": "INFO"},
        timeout=3600,
    )
    return {"interpreter": python, **json.loads(out.read_text())}


def _stamp_etags(job: Path) -> None:
    """A job written to a local folder, made as its shards would have recorded it on S3: each
    summary's part with the ETag S3 gives a single PUT of those bytes (their MD5), which the
    reduce step checks by HEAD."""
    import hashlib

    for path in (job / "_work" / "shards").glob("*.json"):
        summary = json.loads(path.read_text())
        if summary.get("status") == "scored":
            summary["part"]["etag"] = hashlib.md5((job / summary["part"]["name"]).read_bytes()).hexdigest()
            path.write_text(json.dumps(summary))


def _dataset_worker(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.dataset_worker", *args]
    started = time.perf_counter()
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, check=True, timeout=3600, env={**os.environ, **(env or {})}
    )
    return {**json.loads(result.stdout.strip().splitlines()[-1]), "process_seconds": time.perf_counter() - started}


def _small_files(folder: Path, count: int, customers_each: int) -> Path:
    """`count` files of `customers_each` distinct customers, cut from one synthetic file at customer edges."""
    import pyarrow.parquet as pq

    source = synthetic(count * customers_each, seed=77)
    table = pq.read_table(source)
    ids = table["customer_ID"].to_numpy(zero_copy_only=False)
    firsts = [0, *(i for i in range(1, len(ids)) if ids[i] != ids[i - 1]), len(ids)]
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        start, stop = firsts[index * customers_each], firsts[min((index + 1) * customers_each, len(firsts) - 1)]
        pq.write_table(table.slice(start, stop - start), folder / f"part-{index:04d}.parquet")
    return folder


def bench_dataset(model: Path, quick: bool) -> dict[str, Any]:
    """Issue #12: shard throughput, the plan and reduce steps at 1,000 files, workers against one process."""
    import pyarrow.parquet as pq

    out: dict[str, Any] = {}
    # At the default SHARD_ROWS, on a file it cuts into a few shards: a shard's fixed costs
    # (opening the file, the boundary's customer) weigh as they would in a job.
    large = synthetic(5_000 if quick else 500_000, seed=2024)
    grouped = DATA / f"{large.stem}-groups.parquet"
    if not grouped.exists():  # row groups of 131,072 rows, as Spark and pyarrow write by default
        pq.write_table(pq.read_table(large), grouped, row_group_size=131_072)
    shard_rows = 20_000 if quick else Settings().shard_rows
    log(f"dataset: {grouped.name} as shards of {shard_rows} rows against the single-file path")
    out["shards"] = _dataset_worker(
        ["shards", "--model", str(model), "--input", str(grouped), "--shard-rows", str(shard_rows)]
    )

    files = 50 if quick else 1_000
    folder = _small_files(DATA / f"dataset-{files}", files, 20)
    work = Path(tempfile.mkdtemp(prefix="bench-dataset-"))
    log(f"dataset: the local mode on {files} files, to make {files} shard summaries")
    from amex_scoring.dataset import score_dataset

    score_dataset(str(model), str(folder), str(work / "job"), workers=2)
    server, endpoint = _moto_process()
    env = {"AWS_ENDPOINT_URL_S3": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    try:
        from concurrent.futures import ThreadPoolExecutor

        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket="bench")
        _stamp_etags(work / "job")
        uploads = [(p, f"datasets/many/{p.name}") for p in folder.iterdir()]
        uploads += [(p, f"scored/many/{p.relative_to(work / 'job')}") for p in (work / "job").rglob("*") if p.is_file()]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda item: s3.upload_file(str(item[0]), "bench", item[1]), uploads))
        log(f"dataset: plan step over {files} files on the local S3 endpoint")
        out["plan"] = _dataset_worker(
            ["plan", "--input", "s3://bench/datasets/many/", "--output", "s3://bench/scored/planned/"], env
        )
        log(f"dataset: reduce step over {files} shard summaries on the local S3 endpoint")
        out["reduce"] = _dataset_worker(["reduce", "--model", str(model), "--output", "s3://bench/scored/many/"], env)
    finally:
        server.terminate()
        server.wait()

    each = 1_000 if quick else 30_000
    ten = DATA / f"dataset-10x{each}"
    if not ten.exists():
        for index in range(10):
            from amex_scoring.synth import write_synthetic

            write_synthetic(ten / f"file-{index}.parquet", each, seed=500 + index)
    rounds: dict[str, list[float]] = {"workers_2": [], "one_process": []}
    for round_ in range(2 if quick else 3):
        log(f"dataset: score-dataset --workers 2 against one process, round {round_ + 1}")
        started = time.perf_counter()
        command = [
            sys.executable,
            "-m",
            "amex_scoring.cli",
            "score-dataset",
            "--model",
            str(model),
            "--workers",
            "2",
            str(ten),
            str(work / f"ten-{round_}"),
        ]
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT, timeout=3600)
        rounds["workers_2"].append(time.perf_counter() - started)
        rounds["one_process"].append(
            _dataset_worker(["files", "--model", str(model), "--input", str(ten)])["process_seconds"]
        )
    out["workers"] = {"files": 10, "customers": 10 * each, **rounds}
    return out


def bench_v2(model: Path, quick: bool) -> dict[str, Any]:
    log("HTTP: the Open Inference Protocol (V2), JSON and binary tensors, against /v1/predict")
    command = [sys.executable, "-m", "bench.v2_worker", "--model", str(model), "--iterations", "20" if quick else "100"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True, timeout=3600)
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# name: (bench/worker.py --variant, the image's environment variables it goes without)
BATCH_VARIANTS = {
    "as shipped": ("as-shipped", ()),
    "pyarrow's batch iterator instead of whole row groups": ("batch-iterator", ()),
    "glibc's malloc defaults (the Dockerfile's GLIBC_TUNABLES unset)": ("as-shipped", ("GLIBC_TUNABLES",)),
}


def bench_batch_tricks(model: Path, customers: int, runs: int) -> dict[str, Any]:
    """The file path's departures from the plain way, each replaced in turn (bench/worker.py's
    `--variant`, or an image environment variable left out), as the image runs it, alternating
    round by round."""
    path = synthetic(customers, seed=2024)
    out = Path(tempfile.mkdtemp(prefix="bench-variants-"))
    python = lambda_python()
    paths = [task_folder(out / "task", python), runtime_dependencies(python)]
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in BATCH_VARIANTS}
    names = list(BATCH_VARIANTS)
    for round_ in range(runs):
        log(f"batch variants, {customers} customers: round {round_ + 1}")
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:  # each takes each place in turn
            variant, unset = BATCH_VARIANTS[name]
            environment = {key: value for key, value in image_environment().items() if key not in unset}
            output = str(out / f"{names.index(name)}.csv")
            args = ["batch-ours", "--model", str(model), "--input", str(path), "--output", output, "--variant", variant]
            found[name].append(warmed_run(args, path, python=python, only_paths=paths, environment=environment))
    outputs = {(out / f"{index}.csv").read_bytes() for index in range(len(names))}
    summaries = {name: {**batch_summary(r), **_paired_ratios(r, found[names[0]])} for name, r in found.items()}
    return {"customers": customers, **summaries, "same": len(outputs) == 1}


def _paired_ratios(runs: list[dict[str, Any]], shipped: list[dict[str, Any]]) -> dict[str, float]:
    """Median over rounds of this variant's time over the shipped one's in the same round: the
    two ran a few seconds apart, so a drift in the machine's speed over the rounds cancels out."""
    pairs = [(r, s) for r, s in zip(runs, shipped, strict=True) if r["ok"] and s["ok"]]
    if not pairs:
        return {}
    return {
        "vs_shipped": median([r["seconds"] / s["seconds"] for r, s in pairs]),
        "whole_vs_shipped": median([r["process_seconds"] / s["process_seconds"] for r, s in pairs]),
    }


def bench_tricks(model: Path) -> dict[str, Any]:
    log("HTTP: each departure from the frameworks' idioms against the idiom")
    command = [sys.executable, "-m", "bench.tricks_worker", "--model", str(model)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True, timeout=3600)
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _start_process(python: str, code: str, environment: dict[str, str]) -> float:
    """Seconds from spawning the interpreter to the code's end: a Lambda cold start's init.

    The child reports the monotonic clock (system-wide on Linux) when ready, then leaves
    with os._exit: Lambda keeps a started process, so interpreter teardown is not part of it.
    """
    ready = "\nimport os, time; print('READY', time.monotonic(), flush=True); os._exit(0)\n"
    start = time.monotonic()
    command = [python, "-I", "-S", "-c", code + ready]
    result = subprocess.run(command, check=True, capture_output=True, text=True, env={**os.environ, **environment})
    return float(result.stdout.strip().splitlines()[-1].split()[1]) - start


def _start_alternating(python: str, codes: dict[str, tuple[str, dict[str, str]]], runs: int) -> dict[str, list[float]]:
    """`runs` starts of each side (its code and environment), alternating, so a drift in the
    machine's speed hits both alike; after one untimed start of each, so that both read their
    files from the page cache."""
    for code, environment in codes.values():
        _start_process(python, code, environment)
    walls: dict[str, list[float]] = {name: [] for name in codes}
    for _ in range(runs):
        for name, (code, environment) in codes.items():
            walls[name].append(_start_process(python, code, environment))
    return walls


def bench_cold_start(legacy: Path, runs: int) -> dict[str, Any]:
    from amex_scoring.image import install_target

    python = lambda_python()
    log(f"cold start, {runs} fresh processes each ({python})")
    deps = runtime_dependencies(python)
    subprocess.run([python, "-m", "compileall", "-q", str(deps)], check=True)
    task = task_folder(Path(tempfile.mkdtemp(prefix="var-task-")), python)
    original = install_target(ORIGINAL_STACK, CACHE / "original-stack", python, hashed=False)
    ours_code = (
        f"import sys; sys.path[:0] = [{str(task)!r}, {str(deps)!r}]\n"
        "import lambda_function.handlers.api as api\nassert api.HTTP.loaded.model is not None\n"
    )
    original_code = (
        f"import sys, warnings; sys.path[:0] = [{str(original)!r}]; warnings.simplefilter('ignore')\n"
        "import flask, pandas, joblib, sklearn.pipeline, xgboost\n"
        + "".join(f"joblib.load({str(legacy / name)!r})\n" for name in FILES)
    )
    sides = {"ours": (ours_code, image_environment()), "original": (original_code, {})}
    walls = _start_alternating(python, sides, runs)
    ours, baseline = walls["ours"], walls["original"]
    return {
        "python": python,
        "runs": runs,
        "ours_seconds": median(ours),
        "original_seconds": median(baseline),
        "ours_all": ours,
        "original_all": baseline,
        "ours_folder_mb": folder_size_mb(deps) + folder_size_mb(task),
        "original_folder_mb": folder_size_mb(original) + sum((legacy / n).stat().st_size for n in FILES) / 2**20,
    }


def one_customer_file(rows: int) -> tuple[Path, Path]:
    """One customer's `rows` statements, as Parquet and as CSV.gz: only rows, no customers, to grow."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    parquet, csv = DATA / f"one-customer-{rows}.parquet", DATA / f"one-customer-{rows}.csv.gz"
    if not csv.exists():
        log(f"writing one customer's {rows} statements as Parquet and CSV.gz")
        row = pq.read_table(synthetic(1, seed=3)).slice(0, 1)
        table = row.take(pa.array(np.zeros(rows, dtype=np.int64)))
        pq.write_table(table, parquet, row_group_size=131_072)
        with pa.CompressedOutputStream(str(csv), "gzip") as out:
            pacsv.write_csv(table, out)
    return parquet, csv


def bench_csv_memory(model: Path, rows: int, runs: int) -> dict[str, Any]:
    """Peak memory of the same rows read as CSV.gz and as Parquet, alternating (#16: within 1.3x)."""
    parquet, csv = one_customer_file(rows)
    out = Path(tempfile.mkdtemp(prefix="bench-out-"))
    log(f"CSV.gz against Parquet memory, one customer's {rows} rows x{runs}")
    results: dict[str, list[dict[str, Any]]] = {"parquet": [], "csv.gz": []}
    for _ in range(runs):
        for name, path in (("parquet", parquet), ("csv.gz", csv)):
            args = ["batch-ours", "--model", str(model), "--input", str(path), "--output", str(out / "o.parquet")]
            results[name].append(run_worker(args))
    return {"rows": rows, **{name: batch_summary(found) for name, found in results.items()}}


def bench_memory(model: Path, runs: int) -> dict[str, Any]:
    """#30's memory goal: a server's growth over 50 requests built to be kept (bench/memory.py), each
    run a fresh server process."""
    log(f"memory: a server's resident memory over 50 requests built to be kept x{runs}")
    found = []
    for _ in range(runs):
        command = [sys.executable, "-m", "bench.memory", str(model)]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True, timeout=600)
        found.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(r[key] for r in found) for key in ("first_mb", "after_mb", "grown_mb")} | {
        "runs": runs,
        "grown_all": [round(r["grown_mb"], 1) for r in found],
    }


def _capture_worker(*args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.capture_worker", *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True, timeout=3600)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def bench_capture(model: Path, quick: bool) -> dict[str, Any]:
    """#31's goals (bench/capture_worker.py): what capture adds to an answer, each run a fresh
    process; the monitor on 1,000,000 captured decisions, each run a fresh process. The monitor
    runs with the committed model, which has the training reference drift is measured against."""
    runs = 1 if quick else 3
    log(f"capture: the answer with and without it, and the delivery after it x{runs}")
    found = [_capture_worker("overhead", "--model", str(model)) for _ in range(runs)]
    sizes = [size for size in found[0] if size != "model_inputs"]
    overhead = {size: {k: median([run[size][k] for run in found]) for k in found[0][size]} for size in sizes}
    records = 100_000 if quick else 1_000_000
    with_reference = ROOT / "model"
    captures = CACHE / f"captures-{records}-{_code_key('lambda_function/monitoring/capture.py')}"
    if not captures.is_dir():
        log(f"writing {records:,} capture records to {captures}")
        _capture_worker(
            "captures", "--model", str(with_reference), "--captures", str(captures), "--records", str(records)
        )
    log(f"monitor on {records:,} captured decisions x{runs}")
    monitored = [
        _capture_worker("monitor", "--model", str(with_reference), "--captures", str(captures)) for _ in range(runs)
    ]
    return {
        "runs": runs,
        "model_inputs": found[0]["model_inputs"],
        "overhead": overhead,
        "monitor": {
            "records": records,
            "seconds": median([m["seconds"] for m in monitored]),
            "peak_rss_mb": median([m["peak_rss_mb"] for m in monitored]),
            "seconds_all": [round(m["seconds"], 2) for m in monitored],
        },
    }


def _code_key(*paths: str) -> str:
    import hashlib

    return hashlib.sha256(b"".join((ROOT / path).read_bytes() for path in paths)).hexdigest()[:12]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small inputs, one run each: a smoke test")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args(argv)
    DATA.mkdir(parents=True, exist_ok=True)
    legacy = legacy_pickles()
    model = imported_model()
    runs = 1 if args.quick else 3
    started = time.time()
    results: dict[str, Any] = {
        "machine": machine(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "legacy": "../shared/legacy-artifacts"
        if legacy.parent.name == "shared"
        else "synthetic stand-in (legacy artifacts absent)",
    }
    medium = 5_000 if args.quick else 100_000
    results["files_medium"] = bench_files(model, legacy, medium, runs, runs, None)
    if not args.quick:
        results["files_kaggle"] = bench_files(model, legacy, KAGGLE_CUSTOMERS, runs, 1, 20.0)
    results["s3"] = bench_s3(model, 5_000 if args.quick else 20_000, runs)
    results["csv_memory"] = bench_csv_memory(model, 200_000 if args.quick else 2_000_000, runs)
    results["http"] = bench_http(model, legacy)
    results["tricks"] = bench_tricks(model)
    results["batch_tricks"] = bench_batch_tricks(model, medium, 1 if args.quick else 15)
    results["v2"] = bench_v2(model, args.quick)
    results["dataset"] = bench_dataset(model, args.quick)
    results["memory"] = bench_memory(model, 1 if args.quick else 3)
    results["capture"] = bench_capture(model, args.quick)
    results["cold_start"] = bench_cold_start(legacy, 2 if args.quick else 5)
    log("as Lambda runs it: the runtime interface client behind the emulator, against in process")
    # 20,000 customers, as the S3 section: through moto, a 100,000-customer file takes about a minute a call
    files_from_s3 = synthetic(5_000 if args.quick else 20_000, seed=2024)
    results["lambda_runtime"] = bench_lambda_runtime(model, files_from_s3, 1 if args.quick else 5)
    results["seconds"] = time.time() - started
    (CACHE / "last-results.json").write_text(json.dumps(results, indent=1))
    from .report import render

    Path(args.out).write_text(render(results, quick=args.quick))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
