"""`make demo`: the whole product on this machine, with no AWS account.

Starts moto's S3 server on 127.0.0.1, creates the bucket, uploads a synthetic AmEx file
under incoming/, invokes the batch handler with the S3 event AWS would send, shows the
output and summary, then scores one customer through the HTTP handler.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from pathlib import Path

from .events import http_api_v2, s3_put
from .local_s3 import start_s3_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)

    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    server, endpoint = start_s3_server()
    print(f"1. local S3 server (moto) at {endpoint}")
    import boto3
    import pyarrow.parquet as pq

    from .invoke import invoke
    from .synth import write_synthetic

    bucket, key = "amex-scoring-demo", "incoming/statements 2026-11+été.parquet"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    folder = tempfile.TemporaryDirectory()
    path = Path(folder.name) / "statements.parquet"
    rows, customers = write_synthetic(path, args.customers, seed=args.seed)
    s3.upload_file(str(path), bucket, key)
    print(f"2. uploaded {rows} statement rows of {customers} customers to s3://{bucket}/{key}")

    event = s3_put(key, bucket=bucket)
    print(
        f"3. invoking the batch handler with an S3 event (key as S3 sends it: "
        f"{event['Records'][0]['s3']['object']['key']})"
    )
    result = invoke(event, "batch")["results"][0]
    if result["status"] != "scored":
        print(json.dumps(result, indent=1))
        return 1
    print(f"   predictions: {result['output']}")
    print(f"   summary:     {result['summary']}")
    summary_key = result["summary"].split(f"s3://{bucket}/", 1)[1]
    summary = json.loads(s3.get_object(Bucket=bucket, Key=summary_key)["Body"].read())
    shown = {
        k: summary[k]
        for k in ("rows_read", "customers_scored", "duration_seconds", "score_quantiles", "share_default", "threshold")
    }
    drift = summary.get("drift", {})
    if drift.get("status") == "measured":  # a model without a reference says so instead
        shown["drift"] = {"max_psi": drift["max_psi"], "score_psi": drift["psi"]["score"]}
    else:
        shown["drift"] = drift
    print("   summary says: " + json.dumps(shown, indent=1).replace("\n", "\n   "))
    print(
        "   (duration_seconds is mostly the local S3 server: moto copies the whole object on every ranged"
        "\n   read. On S3, or from a local file with `amex-scoring score`, scoring takes a fraction of it.)"
    )
    output_key = result["output"].split(f"s3://{bucket}/", 1)[1]
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=output_key)["Body"].read()))
    print("   first predictions:")
    for row in table.slice(0, 3).to_pylist():
        print(f"     {row['customer_ID'][:16]}…  prediction={row['prediction']:.6f}  default={row['default']}")

    # The first customer's statements, all of them: the API also scores the latest S_2.
    first = table.slice(0, 1).to_pylist()[0]
    statements = pq.read_table(path, filters=[("customer_ID", "=", first["customer_ID"])]).to_pylist()
    folder.cleanup()
    body = {
        "customers": [
            {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()} for row in statements
        ]
    }
    response = invoke(http_api_v2("POST", "/v1/predict", body), "api")
    print(
        f"4. HTTP handler, POST /v1/predict with that customer's {len(statements)} statements "
        f"-> {response['statusCode']}"
    )
    print("   " + response["body"])
    prediction = json.loads(response["body"])["predictions"][0]["probability"]
    same = abs(prediction - first["prediction"]) <= 1e-6
    print(f"   same score as the batch output: {same}")
    server.stop()  # type: ignore[attr-defined]
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
