"""`amex-scoring`: synthesise data, train, import a legacy model, score files, serve, invoke."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

from .recipe import DEFAULT_MODEL_NAME

NAME_HELP = f"the name the model answers to on V2 paths (default: {DEFAULT_MODEL_NAME}, as the README and events/ use)"
DEFAULT_MODEL = os.environ.get("MODEL_URI") or str(Path(__file__).resolve().parent.parent / "model")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("amex-scoring")
    except PackageNotFoundError:
        return "unknown"


def _require_files(*paths: str) -> None:
    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"file not found: {path}")


def _require_model_dir(uri: str) -> None:
    """A local model directory must exist before anything starts (an s3:// one is checked at load)."""
    if "://" not in uri and not Path(uri).is_dir():
        raise FileNotFoundError(f"model directory not found: {uri}")


def _synth(args: argparse.Namespace) -> None:
    from .synth import write_synthetic

    rows, customers = write_synthetic(
        args.out, args.customers, statements=args.statements, seed=args.seed, labels_out=args.labels
    )
    print(
        f"wrote {rows} statement rows of {customers} customers to {args.out}"
        + (f" and labels to {args.labels}" if args.labels else "")
    )


def _train(args: argparse.Namespace) -> None:
    from .train import describe, train

    _require_files(args.data, args.labels)
    manifest = train(
        args.data,
        args.labels,
        args.out,
        seed=args.seed,
        n_estimators=args.trees,
        name=args.name,
        version=args.model_version,
        threshold=args.threshold,
        source_note=args.note,
        command=args.command_line,
    )
    print(describe(manifest))
    print(f"model written to {args.out}")


def _import_legacy(args: argparse.Namespace) -> None:
    from .legacy import UNPICKLE_WARNING, import_legacy
    from .reference import describe_reference

    _require_files(args.vectorizer, args.imputer, args.model, *([args.reference_data] if args.reference_data else []))
    print(f"warning: {UNPICKLE_WARNING}", file=sys.stderr)
    manifest = import_legacy(
        args.vectorizer,
        args.imputer,
        args.model,
        args.out,
        name=args.name,
        version=args.model_version,
        threshold=args.threshold,
        reference_data=args.reference_data,
        command=args.command_line,
    )
    parity = manifest["parity"]
    print(
        f"imported {' -> '.join(manifest['source_detail']['steps'])} into {args.out} as {manifest['name']} "
        f"{manifest['version']}; parity with the pickles on {parity['customers']} generated customers: "
        f"max |difference| {parity['max_abs_difference']:.3g}"
    )
    print(describe_reference(manifest))


def _reference(args: argparse.Namespace) -> None:
    from .reference import add_reference, describe_reference

    _require_model_dir(args.model)
    _require_files(args.data)
    manifest = add_reference(args.model, args.data)
    print(f"{manifest['name']} {manifest['version']} ({args.model}): {describe_reference(manifest)}")


def _score(args: argparse.Namespace) -> None:
    from lambda_function.core.scoring import Model
    from lambda_function.files.file_scoring import score_statements
    from lambda_function.files.predictions import write_predictions_file
    from lambda_function.files.statements import InputError, input_format, local_opener
    from lambda_function.monitoring.capture import FileCapture

    fmt = input_format(args.input)
    if fmt is None:
        raise InputError(f"{args.input}: expected a .parquet, .csv or .csv.gz file")
    if Path(args.output).suffix.lower() not in (".csv", ".parquet"):
        raise InputError(f"{args.output}: the output must end in .csv or .parquet")
    _require_files(args.input)
    model = Model(args.model).load()
    start = time.perf_counter()
    capture_uri = os.environ.get("CAPTURE_URI", "").strip()
    capture = FileCapture(model, "batch", str(Path(args.input).resolve()), capture_uri) if capture_uri else None
    scored = score_statements(model, local_opener(args.input), fmt, capture=capture)
    write_predictions_file(scored, model, args.output)
    if capture is not None:
        print(f"capture records: {capture.write(scored)} to {capture_uri}")
    seconds = time.perf_counter() - start
    skipped = f", skipped {sum(scored.skipped.values())} ({scored.skipped})" if scored.skipped else ""
    print(
        f"scored {scored.customers} customers from {scored.rows_read} rows in {seconds:.2f}s "
        f"with {model.name} {model.version}{skipped} -> {args.output}"
    )


def _outcomes(args: argparse.Namespace) -> None:
    from .outcomes import describe, outcomes_report, write_report

    _require_files(*args.predictions, args.labels)
    if args.model:
        _require_model_dir(args.model)
    model = Path(args.model) if args.model else None
    report = outcomes_report([Path(p) for p in args.predictions], Path(args.labels), model, args.max_drop)
    if args.out:
        write_report(report, Path(args.out))
    print(describe(report))


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _monitor(args: argparse.Namespace) -> None:
    from lambda_function.core.scoring import Model
    from lambda_function.monitoring.job import monitor_report
    from lambda_function.monitoring.report import summary

    model = Model(args.model).load()
    window = (args.since, args.until)
    report = monitor_report(model, args.captures, args.out, window, args.labels, args.max_drop)
    print(f"{summary(report)} -> {report['written']['json']}, {report['written']['html']}")


def _score_dataset(args: argparse.Namespace) -> None:
    from .dataset import score_dataset

    _require_model_dir(args.model)
    start = time.perf_counter()
    result = score_dataset(args.model, args.input, args.output, args.workers)
    print(
        f"scored {result['customers_scored']} customers from {result['rows_read']} rows of {result['files']} files "
        f"in {result['shards']} shards in {time.perf_counter() - start:.2f}s -> {args.output} "
        "(_SUCCESS lists the parts, _SUMMARY.json summarises them)"
    )


def _verify_model(args: argparse.Namespace) -> None:
    from lambda_function.core.scoring import Model
    from lambda_function.deploy.golden import check_golden

    _require_model_dir(args.model)
    model = Model(args.model).load()  # checksums verified, as the runtime does
    check = check_golden(model)
    if not check.ok:
        raise ValueError(f"{args.model}: {check.message()}")
    print(f"{model.name} {model.version} ({args.model}): {check.message()}")


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    if args.model:
        _require_model_dir(args.model)
        os.environ["MODEL_URI"] = args.model
    from lambda_function.handlers.api import asgi_app  # loads the model: a bad one stops here, in one line

    uvicorn.run(asgi_app, host=args.host, port=args.port, log_level="info")


def _invoke(args: argparse.Namespace) -> None:
    from .invoke import function_for, invoke, load_handler, with_local_s3

    _require_files(args.event)
    try:
        event = json.loads(Path(args.event).read_text())
    except ValueError as error:
        raise ValueError(f"{args.event}: not a JSON event ({error})") from None
    if args.download and args.local_s3 is None:
        raise ValueError("--download keeps what the handler wrote to the local S3 of --local-s3: give both")
    if args.model:
        _require_model_dir(args.model)
        os.environ["MODEL_URI"] = args.model
    load_handler(args.function or function_for(event))  # a model or setting that cannot work stops here
    if args.local_s3 is not None:  # S3 events name a bucket and key: make them exist, on this machine
        _require_files(args.local_s3)
        download = Path(args.download) if args.download else None
        result = with_local_s3(event, Path(args.local_s3), lambda: invoke(event, args.function), download)
    else:
        result = invoke(event, args.function)
    print(json.dumps(result, indent=1, default=str))


def _local_s3(args: argparse.Namespace) -> None:
    import threading

    from .local_s3 import serve

    if args.statements:
        _require_files(args.statements)
    statements = Path(args.statements) if args.statements else None
    serve(args.host, args.port, Path(args.env_file), statements, threading.Event())  # until Ctrl-C


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amex-scoring", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    synth = commands.add_parser("synth", help="write synthetic AmEx-layout statements (Parquet)")
    synth.add_argument("--customers", type=int, required=True)
    synth.add_argument("--statements", type=int, default=13, help="at most this many statements per customer")
    synth.add_argument("--seed", type=int, required=True)
    synth.add_argument("--out", required=True, help="FILE.parquet")
    synth.add_argument("--labels", help="also write FILE.csv with customer_ID,target")
    synth.set_defaults(run=_synth)

    train = commands.add_parser("train", help="train the XGBoost model and write a model directory")
    train.add_argument("--data", required=True, help="statements, .parquet or .csv")
    train.add_argument("--labels", required=True, help="customer_ID,target CSV")
    train.add_argument("--out", required=True, help="model directory to write")
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--trees", type=int, default=300)
    train.add_argument("--name", default=DEFAULT_MODEL_NAME, help=NAME_HELP)
    train.add_argument("--model-version", help="default: the creation time")
    train.add_argument("--threshold", type=float, default=0.5, help="decision threshold for `default`")
    train.add_argument("--note", default="", help="free text stored in the manifest")
    train.set_defaults(run=_train)

    legacy = commands.add_parser(
        "import-legacy",
        help="convert pickled imputer/vectorizer/pipeline into a model directory",
        description="Unpickling runs code stored in the files: only import files you trust. "
        "Accepts a joblib Pipeline of MinMaxScaler/RFE/RFECV/XGBClassifier steps (any subset) or a bare "
        "XGBClassifier/Booster, and checks parity with the pickles before writing.",
    )
    legacy.add_argument("--vectorizer", required=True, help="DictVectorizer pickle")
    legacy.add_argument("--imputer", required=True, help="SimpleImputer pickle")
    legacy.add_argument("--model", required=True, help="joblib Pipeline or XGBClassifier/Booster")
    legacy.add_argument("--out", required=True, help="model directory to write")
    legacy.add_argument("--name", default=DEFAULT_MODEL_NAME, help=NAME_HELP)
    legacy.add_argument(
        "--reference-data",
        metavar="STATEMENTS",
        help="a statements file (.parquet, .csv) standing for the training population: the drift reference",
    )
    legacy.add_argument("--model-version")
    legacy.add_argument("--threshold", type=float, default=0.5)
    legacy.set_defaults(run=_import_legacy)

    reference = commands.add_parser(
        "reference",
        help="add or replace a model directory's drift reference (reference.json), from a statements file "
        "standing for the training population",
    )
    reference.add_argument("--model", required=True, help="model directory")
    reference.add_argument("--data", required=True, help="statements .parquet, .csv or .csv.gz")
    reference.set_defaults(run=_reference)

    score = commands.add_parser("score", help="score a statements file with the Lambda handlers' pipeline")
    score.add_argument("--model", default=DEFAULT_MODEL, help="model directory or s3://bucket/prefix/")
    score.add_argument("input", help="statements .parquet, .csv or .csv.gz")
    score.add_argument("output", help=".csv (customer_ID,prediction) or .parquet (with default, model version)")
    score.set_defaults(run=_score)

    outcomes = commands.add_parser(
        "outcomes",
        help="how scored customers turned out: AUC, Gini, KS, the competition metric, Brier, calibration by "
        "decile, from predictions and a customer_ID,target labels file",
    )
    outcomes.add_argument("predictions", nargs="+", help="predictions .parquet or Kaggle .csv (or a job's parts)")
    outcomes.add_argument("--labels", required=True, help="customer_ID,target CSV")
    outcomes.add_argument("--model", help="model directory: compare with its training metrics")
    outcomes.add_argument(
        "--max-drop", type=float, default=0.05, help="flag a metric this far below training (default 0.05)"
    )
    outcomes.add_argument("--out", metavar="DIR", help="also write report.json and report.html (self-contained) there")
    outcomes.set_defaults(run=_outcomes)

    monitor = commands.add_parser(
        "monitor",
        help="the monitor job on captures (a folder or s3:// prefix of date=YYYY-MM-DD/): PSI per input and for "
        "the score, missing and unseen rates, volume, decision rate, score quantiles; outcomes with --labels",
    )
    monitor.add_argument("--model", default=DEFAULT_MODEL, help="model directory or s3://bucket/prefix/")
    monitor.add_argument("--captures", required=True, help="where CAPTURE_URI wrote the records")
    monitor.add_argument("--labels", help="customer_ID,target CSV: join the decisions to their outcomes")
    monitor.add_argument("--since", type=_date, help="first day (YYYY-MM-DD) of the window; default: every capture")
    monitor.add_argument("--until", type=_date, help="last day (YYYY-MM-DD) of the window")
    monitor.add_argument("--max-drop", type=float, default=0.05, help="flag an outcome metric this far below training")
    monitor.add_argument("--out", required=True, help="folder or s3:// prefix for report.json and report.html")
    monitor.set_defaults(run=_monitor)

    dataset = commands.add_parser(
        "score-dataset",
        help="score every statements file under a folder or s3:// prefix as one job: the ScoreDataset "
        "state machine's local mode (same plan, shard and reduce steps)",
    )
    dataset.add_argument("--model", default=DEFAULT_MODEL, help="model directory or s3://bucket/prefix/")
    dataset.add_argument("--workers", type=int, default=1, help="processes scoring shards at once")
    dataset.add_argument("input", help="folder or s3://bucket/prefix/ of .parquet, .csv, .csv.gz files")
    dataset.add_argument("output", help="folder or s3://bucket/prefix/ for part-NNNNN.parquet, _SUMMARY.json, _SUCCESS")
    dataset.set_defaults(run=_score_dataset)

    verify = commands.add_parser(
        "verify-model",
        help="load a model directory as the runtime does and score its golden customers; "
        "non-zero, naming the worst customer, if any differs by more than 1e-6",
    )
    verify.add_argument("model", help="model directory or s3://bucket/prefix/")
    verify.set_defaults(run=_verify_model)

    serve = commands.add_parser("serve", help="run the HTTP API locally under uvicorn")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--model", help="model directory or s3:// URI (default: MODEL_URI or model/)")
    serve.set_defaults(run=_serve)

    invoke = commands.add_parser("invoke", help="call a Lambda handler with an event file, as the runtime does")
    invoke.add_argument("--event", required=True, help="event JSON (e.g. events/api-predict.json)")
    invoke.add_argument("--function", choices=["api", "batch"], help="default: chosen from the event's shape")
    invoke.add_argument(
        "--local-s3",
        metavar="FILE",
        help="for an S3 event: start a local S3 server (moto), put FILE at the event's bucket and key, "
        "invoke, and list what the function wrote",
    )
    invoke.add_argument("--model", help="model directory or s3:// URI (default: MODEL_URI or model/)")
    invoke.add_argument(
        "--download",
        metavar="DIR",
        help="with --local-s3: keep what the function wrote (DIR/<bucket>/<key>) before the local S3 stops",
    )
    invoke.set_defaults(run=_invoke)

    local_s3 = commands.add_parser(
        "local-s3",
        help="serve a local S3 (moto) holding the objects events/ names, for `sam local --env-vars`",
    )
    local_s3.add_argument("--host", default="172.17.0.1", help="where containers reach this machine: Docker's bridge")
    local_s3.add_argument("--port", type=int, default=5000)
    local_s3.add_argument("--env-file", default="local-s3.json", help="the env file to write for --env-vars")
    local_s3.add_argument("--statements", help="the Parquet file the S3 events name (default: 300 synthetic customers)")
    local_s3.set_defaults(run=_local_s3)
    return parser


def main(argv: list[str] | None = None) -> int:
    import shlex

    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.command_line = shlex.join(["amex-scoring", *argv])  # recorded in the README of a model it writes
    try:
        args.run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # one clear line, not a traceback
        if os.environ.get("AMEX_SCORING_DEBUG"):
            raise
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"amex-scoring {args.command}: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
