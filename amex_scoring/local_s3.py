"""A local S3 for `sam local`: moto's server, holding every object the events in events/ name.

`amex-scoring local-s3 --host 172.17.0.1` serves it where Docker's containers reach this machine
(the bridge's address), puts the objects, and writes the env file that hands the functions its
address (`sam local ... --env-vars local-s3.json`). tests/platform/test_sam.py uses the same functions.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from .events import BUCKET, DATASET, DATASET_FILE, JOB_FILE, LABELS_KEY

EVENTS = Path(__file__).resolve().parent.parent / "events"


def _key(event_name: str) -> str:
    """The object key an S3 event names (S3 sends it form-encoded)."""
    record = json.loads((EVENTS / event_name).read_text())["Records"][0]
    return unquote_plus(record["s3"]["object"]["key"])


def put_event_objects(s3: Any, statements: Path) -> dict[str, str]:
    """Create the events' bucket and put what they name: `statements` (a Parquet file) for
    s3-put.json, the same as gzipped CSV for s3-put-csv.json, events/data's dataset file and job
    file for the dataset events, and its labels file for monitor-labels.json. Returns key -> what was put there."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if BUCKET not in {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
    text = io.BytesIO()
    pacsv.write_csv(pq.read_table(statements), text)
    objects = {
        _key("s3-put.json"): (statements.read_bytes(), str(statements)),
        _key("s3-put-csv.json"): (gzip.compress(text.getvalue()), f"{statements} as gzipped CSV"),
        DATASET + DATASET_FILE: ((EVENTS / "data" / DATASET_FILE).read_bytes(), f"events/data/{DATASET_FILE}"),
        JOB_FILE: ((EVENTS / "data" / "2026-11.json").read_bytes(), "events/data/2026-11.json"),
        LABELS_KEY: ((EVENTS / "data" / "labels-2026-11.csv").read_bytes(), "events/data/labels-2026-11.csv"),
    }
    for key, (body, _) in objects.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return {key: source for key, (_, source) in objects.items()}


def write_env_file(path: Path, endpoint: str) -> None:
    """`sam local --env-vars`: `Parameters` applies to every function of the template (to the
    variables it declares). Capture records land in the local bucket, as the file functions'
    do in the data bucket (the HTTP function's Firehose stream does not exist locally)."""
    variables = {
        "AWS_ENDPOINT_URL_S3": endpoint,
        "CAPTURE_URI": f"s3://{BUCKET}/captures/",
        "MONITORING_URI": f"s3://{BUCKET}/monitoring/",
    }
    path.write_text(json.dumps({"Parameters": variables}, indent=1) + "\n")


def serve(host: str, port: int, env_file: Path, statements: Path | None, stop: threading.Event) -> None:
    """Serve until `stop` is set (the CLI: until Ctrl-C)."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    endpoint = f"http://{host}:{port}"
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        with tempfile.TemporaryDirectory() as folder:
            if statements is None:
                from .synth import write_synthetic

                statements = Path(folder) / "statements.parquet"
                write_synthetic(statements, 300, statements=13, seed=5)
            put = put_event_objects(s3, statements)
        write_env_file(env_file, endpoint)
        print(f"local S3 (moto) at {endpoint}, bucket {BUCKET}:")
        for key, source in put.items():
            print(f"  {key}  <- {source}")
        print(f"wrote {env_file}: sam local invoke ... --env-vars {env_file}   (Ctrl-C stops the server)")
        stop.wait()
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_s3_server() -> tuple[object, str]:
    """moto's server mode over real HTTP; the AWS SDKs reach it through AWS_ENDPOINT_URL_S3."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ENDPOINT_URL_S3=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
    )
    return server, endpoint
