"""Every path a customer can take to a score, for the differential test (tests/rules/test_differential.py).

A customer is its statements: dicts of field -> a JSON value (text, number, boolean or None; a
field left out is not sent). Each path encodes them as that path's clients do, scores them
through the product's own code, and answers `Scored(probability)` or `Refused(message)`:

- `/v1` one object (a single statement) and `/v1` batch, through the HTTP Lambda handler;
- V2 JSON and V2 binary tensors (BOOL for booleans, FP64 for numbers, BYTES for text), likewise;
- CSV (text cells: a number as Python writes it, a boolean as `true`/`false`, None empty);
- Parquet with typed columns (numbers float64, text string, booleans bool), with float32 numbers,
  with the categoricals as text codes, and with text as dictionaries;
- a dataset job (local mode: plan, shard, reduce) over the typed Parquet file.

Some values cannot be said in some encodings (CSV has no types: the text "0.5" and the number 0.5
are one cell). `expressible` tells which paths can carry a customer faithfully.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from lambda_function.core.schema import CATEGORICAL

Statement = dict[str, Any]


@dataclass(frozen=True)
class Scored:
    probability: float
    imputed: frozenset[str] = frozenset()  # what the capture record says was missing and imputed
    unseen: frozenset[str] = frozenset()  # and which categories were unseen


def _scored(probability: float, captured: pa.Table) -> Scored:
    """The outcome, with what the path's capture record says of the customer's inputs."""
    [record] = captured.select(["imputed", "unseen"]).to_pylist()
    return Scored(probability, frozenset(record["imputed"]), frozenset(record["unseen"]))


@dataclass(frozen=True)
class Refused:
    message: str


Outcome = Scored | Refused


@dataclass(frozen=True)
class Target:
    """One model, served: its HTTP handler as production builds it, and its directory (files and jobs)."""

    model: Any  # lambda_function.core.scoring.Model
    handler: Callable[..., Any]
    uri: str
    capture: Any  # lambda_function.monitoring.recorder.CaptureRecorder: the HTTP paths' decisions, kept

    @classmethod
    def of(cls, uri: str) -> Target:
        from serving import http_handler

        from lambda_function.core.scoring import Model
        from lambda_function.monitoring.recorder import CaptureRecorder
        from lambda_function.settings import Settings

        model = Model(uri).load()
        http = http_handler(model, Settings())
        capture = CaptureRecorder(model, "unused: the decisions are taken, never delivered")
        http.app.state.service.capture = capture  # kept as the HTTP function keeps them, no delivery thread
        return cls(model, http.handler, uri, capture)

    def captured(self) -> pa.Table:
        """The capture records of the HTTP request just answered."""
        from lambda_function.monitoring.capture import capture_table

        return pa.concat_tables([capture_table(self.model, decisions) for decisions in self.capture.take()])


def _http(target: Target, event: dict[str, Any]) -> Outcome:
    from amex_scoring.invoke import LambdaContext

    answer = target.handler(event, LambdaContext("api", 29))
    body = json.loads(answer["body"]) if answer["headers"]["content-type"].startswith("application/json") else {}
    if answer["statusCode"] == 200:
        return _scored(_one(body), target.captured())
    target.capture.take()  # nothing was scored
    if 400 <= answer["statusCode"] < 500:
        return Refused(json.dumps(body))
    raise AssertionError(f"{answer['statusCode']}: {answer['body'][:500]}")


def _one(body: dict[str, Any]) -> float:
    if "predictions" in body:
        [prediction] = body["predictions"]
        return float(prediction["probability"])
    outputs = {output["name"]: output["data"] for output in body["outputs"]}
    [probability] = outputs["probability"]
    return float(probability)


def v1_object(statements: list[Statement], target: Target) -> Outcome:

    from amex_scoring.events import http_api_v2

    [statement] = statements
    return _http(target, http_api_v2("POST", "/v1/predict", _json_text(statement)))


def v1_batch(statements: list[Statement], target: Target) -> Outcome:

    from amex_scoring.events import http_api_v2

    return _http(target, http_api_v2("POST", "/v1/predict", _json_text({"customers": statements})))


def _json_text(value: Any) -> str:
    return json.dumps(value, allow_nan=False)


def _v2_tensors(statements: list[Statement]) -> list[tuple[str, str, list[Any]]]:
    """(name, datatype, values): one input per field, typed by the values it carries."""
    names = list(dict.fromkeys(name for statement in statements for name in statement))
    tensors = []
    for name in names:
        values = [statement.get(name) for statement in statements]
        present = [v for v in values if v is not None]
        if any(isinstance(v, str) for v in present) or (name in ("customer_ID", "S_2") and not present):
            datatype = "BYTES"
        elif present and all(isinstance(v, bool) for v in present):
            datatype = "BOOL"
        else:
            datatype = "FP64"
        tensors.append((name, datatype, values))
    return tensors


def v2_json(statements: list[Statement], target: Target) -> Outcome:

    from amex_scoring.events import http_api_v2

    inputs = []
    for name, datatype, values in _v2_tensors(statements):
        if datatype == "BYTES":  # text as sent; a number in a text column as its JSON text
            data = [v if isinstance(v, str) or v is None else _json_text(v) for v in values]
        else:
            data = values
        inputs.append({"name": name, "shape": [len(values)], "datatype": datatype, "data": data})
    body = {"inputs": inputs, "outputs": [{"name": "probability"}]}
    return _http(target, http_api_v2("POST", f"/v2/models/{target.model.name}/infer", _json_text(body)))


def v2_binary(statements: list[Statement], target: Target) -> Outcome:
    import base64
    import struct

    from amex_scoring.events import http_api_v2

    inputs, data = [], []
    for name, datatype, values in _v2_tensors(statements):
        if datatype == "BYTES":
            texts = ["" if v is None else v if isinstance(v, str) else _json_text(v) for v in values]
            raw = b"".join(struct.pack("<I", len(t.encode())) + t.encode() for t in texts)
        elif datatype == "BOOL":
            raw = struct.pack(f"<{len(values)}?", *(bool(v) for v in values))
        else:
            raw = struct.pack(f"<{len(values)}d", *(math.nan if v is None else float(v) for v in values))
        inputs.append(
            {"name": name, "shape": [len(values)], "datatype": datatype, "parameters": {"binary_data_size": len(raw)}}
        )
        data.append(raw)
    header = _json_text({"inputs": inputs, "outputs": [{"name": "probability", "parameters": {"binary_data": False}}]})
    event = http_api_v2("POST", f"/v2/models/{target.model.name}/infer")
    event["body"] = base64.b64encode(header.encode() + b"".join(data)).decode()
    event["isBase64Encoded"] = True
    event["headers"].update(
        {"content-type": "application/octet-stream", "inference-header-content-length": str(len(header.encode()))}
    )
    return _http(target, event)


def csv_text(statements: list[Statement]) -> bytes:
    names = list(dict.fromkeys(name for statement in statements for name in statement))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(names)
    for statement in statements:
        writer.writerow([_cell(statement.get(name)) for name in names])
    return text.getvalue().encode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value)


def _table(statements: list[Statement], typing: str) -> pa.Table:
    names = list(dict.fromkeys(name for statement in statements for name in statement))
    columns = {}
    for name in names:
        values = [statement.get(name) for statement in statements]
        present = [v for v in values if v is not None]
        as_text = typing == "text" and name in CATEGORICAL  # categorical codes stored as text: "0.0"
        text = any(isinstance(v, str) for v in present) or as_text or (name in ("customer_ID", "S_2") and not present)
        if text:
            column = pa.array(
                [None if v is None else v if isinstance(v, str) else _cell(v) for v in values], pa.string()
            )
            columns[name] = column.dictionary_encode() if typing == "dictionary" else column
        elif present and all(isinstance(v, bool) for v in present):
            columns[name] = pa.array(values, pa.bool_())
        else:
            kind = pa.float32() if typing == "float32" else pa.float64()
            columns[name] = pa.array([None if v is None else float(v) for v in values], kind)
    return pa.table(columns)


def _score_file(data: bytes, fmt: str, target: Target) -> Outcome:

    from lambda_function.files.file_scoring import score_statements
    from lambda_function.files.statements import InputError, local_opener
    from lambda_function.monitoring.capture import FileCapture

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"statements.{fmt}"
        path.write_bytes(data)
        capture = FileCapture(target.model, "batch", str(path), folder)
        try:
            scored = score_statements(target.model, local_opener(path), fmt, capture=capture)
        except InputError as error:
            return Refused(str(error))
    if scored.customers != 1:
        return Refused(f"not scored: {scored.skipped}")
    [probability] = scored.predictions["prediction"].to_pylist()
    return _scored(probability, pa.concat_tables(capture.tables))


def csv_file(statements: list[Statement], target: Target) -> Outcome:
    return _score_file(csv_text(statements), "csv", target)


def parquet_bytes(statements: list[Statement], typing: str) -> bytes:
    sink = io.BytesIO()
    pq.write_table(_table(statements, typing), sink)
    return sink.getvalue()


def parquet(typing: str) -> Callable[[list[Statement], Target], Outcome]:
    def path(statements: list[Statement], target: Target) -> Outcome:
        return _score_file(parquet_bytes(statements, typing), "parquet", target)

    return path


def dataset_job(statements: list[Statement], target: Target) -> Outcome:
    from amex_scoring.dataset import score_dataset
    from lambda_function.dataset.reduce import JobFailed

    with tempfile.TemporaryDirectory() as folder, _environment(CAPTURE_URI=str(Path(folder) / "captures")):
        (Path(folder) / "in").mkdir()
        (Path(folder) / "in" / "a.parquet").write_bytes(parquet_bytes(statements, "typed"))
        try:
            score_dataset(target.uri, str(Path(folder) / "in"), str(Path(folder) / "out"))
        except JobFailed:
            summary = json.loads((Path(folder) / "out" / "_SUMMARY.json").read_text())
            return Refused(json.dumps(summary.get("problems", summary)))
        parts = pq.read_table(Path(folder) / "out" / "part-00000.parquet")
        summary = json.loads((Path(folder) / "out" / "_SUMMARY.json").read_text())
        captured = ds.dataset(Path(folder) / "captures", format="parquet").to_table() if parts.num_rows else None
    if parts.num_rows != 1 or captured is None:
        return Refused(f"not scored: {summary.get('customers_skipped', summary)}")
    [probability] = parts["prediction"].to_pylist()
    return _scored(probability, captured)


@contextlib.contextmanager
def _environment(**variables: str) -> Iterator[None]:
    with mock.patch.dict(os.environ, variables):
        yield


PATHS: dict[str, Callable[[list[Statement], Target], Outcome]] = {
    "/v1 object": v1_object,
    "/v1 batch": v1_batch,
    "V2 JSON": v2_json,
    "V2 binary": v2_binary,
    "CSV": csv_file,
    "Parquet": parquet("typed"),
    "Parquet float32": parquet("float32"),
    "Parquet text codes": parquet("text"),
    "Parquet dictionary": parquet("dictionary"),
    "dataset job": dataset_job,
}
TEXT_ONLY = {"CSV"}  # a cell is text, whatever it says
FLOAT32_MAX = 3.4028234663852886e38


def expressible(statements: list[Statement]) -> set[str]:
    """The paths that carry these statements as they are: one object only for one statement;
    not in text-only encodings when a text value spells a number or a boolean (a JSON string
    "0.5" and the number 0.5 are the same CSV cell), or a value is a boolean; a column that mixes
    booleans with other values only in JSON rows."""
    paths = set(PATHS)
    if len(statements) != 1:
        paths.discard("/v1 object")
    values = [(name, v) for statement in statements for name, v in statement.items()]
    if any(isinstance(v, str) and _spells_a_non_text(v) for _, v in values):
        paths -= TEXT_ONLY
    if any(name in ("customer_ID", "S_2") and not isinstance(v, str | None) for name, v in values):
        paths -= TEXT_ONLY  # a number where text is expected is text in a CSV cell
    fields = {name for name, _ in values}
    for field in fields:  # a column holds one type: booleans beside other values are only JSON's
        kinds = {isinstance(s.get(field), bool) for s in statements if s.get(field) is not None}
        if len(kinds) > 1:
            paths &= {"/v1 object", "/v1 batch"}
    if any(isinstance(v, bool) for _, v in values):
        paths -= {*TEXT_ONLY, "Parquet text codes"}  # `true` in a text cell is text
    if any(isinstance(v, int | float) and not isinstance(v, bool) and abs(v) > FLOAT32_MAX for _, v in values):
        paths.discard("Parquet float32")  # a float32 column cannot hold it
    return paths


def _spells_a_non_text(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return text.strip().lower() in ("true", "false", "")
