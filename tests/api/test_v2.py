"""The Open Inference Protocol (KServe V2): tritonclient against `amex-scoring serve` on a real
socket, binary tensors through API Gateway's base64, the same scores as /v1/predict, and random
bodies that never get a 500."""

from __future__ import annotations

import base64
import json
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from helpers import BAD_CUSTOMER_PROBABILITY, EVENTS, GOOD_CUSTOMER_PROBABILITY, ROOT, SYNTHETIC_MODEL, served
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving import api, http_handler

from amex_scoring.events import http_api_v2
from amex_scoring.invoke import LambdaContext
from lambda_function.api.v2 import V2Error
from lambda_function.core.scoring import Model
from lambda_function.settings import Settings

NAME = "amex-default-xgboost"
INFER = f"/v2/models/{NAME}/infer"


@pytest.fixture(scope="module")
def customers() -> list[dict[str, Any]]:
    """Several statements per customer, as in the batch event."""
    event = json.loads((EVENTS / "api-predict-batch.json").read_text())
    return list(json.loads(event["body"])["customers"])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with served(SYNTHETIC_MODEL) as (url, _):
        yield url.removeprefix("http://")


def v1_probabilities(url: str, customers: list[dict[str, Any]]) -> dict[str, float]:
    answer = httpx.post(f"http://{url}/v1/predict", json={"customers": customers}).json()
    return {p["customer_ID"]: p["probability"] for p in answer["predictions"]}


def columns(customers: list[dict[str, Any]], names: list[str]) -> dict[str, list[Any]]:
    return {name: [c.get(name) for c in customers] for name in names}


def triton_inputs(customers: list[dict[str, Any]], model: Model, binary: bool) -> list[Any]:
    import tritonclient.http as triton

    numeric = set(model.pipeline.imputation)
    found = columns(customers, ["customer_ID", "S_2", *model.inputs])
    inputs = []
    for name, values in found.items():
        if name in numeric:
            array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            tensor = triton.InferInput(name, [len(values)], "FP64")
        else:
            array = np.array(["" if v is None else str(v) for v in values], dtype=np.object_)
            tensor = triton.InferInput(name, [len(values)], "BYTES")
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    return inputs


def test_tritonclient_sees_a_v2_server_and_gets_the_v1_scores(
    server: str, customers: list[dict[str, Any]], synthetic_model: Model
) -> None:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=server)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(NAME)
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    metadata = client.get_model_metadata(NAME)
    assert metadata["versions"] == [synthetic_model.version]
    assert {i["name"] for i in metadata["inputs"]} == {"customer_ID", "S_2", *synthetic_model.inputs}
    expected = v1_probabilities(server, customers)
    # Categorical codes such as B_30 travel as BYTES text here ("2.0"), as numbers on /v1: same category.
    for binary_in in (False, True):
        for binary_out in (False, True):
            outputs = [
                triton.InferRequestedOutput(n, binary_data=binary_out)
                for n in ("customer_ID", "probability", "default")
            ]
            result = client.infer(
                NAME, triton_inputs(customers, synthetic_model, binary_in), outputs=outputs, request_id="r-7"
            )
            ids = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("customer_ID").tolist()]
            probabilities = result.as_numpy("probability").tolist()
            assert dict(zip(ids, probabilities, strict=True)) == expected, (binary_in, binary_out)
            assert result.as_numpy("default").tolist() == [p >= synthetic_model.threshold for p in probabilities]
            assert result.get_response()["id"] == "r-7"


def test_unknown_models_and_bad_inputs_answer_in_the_protocols_error_shape(server: str) -> None:
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    client = triton.InferenceServerClient(url=server)
    with pytest.raises(InferenceServerException, match="no model 'other'"):
        client.get_model_metadata("other")
    with pytest.raises(InferenceServerException, match="version '9'"):
        client.get_model_metadata(NAME, model_version="9")
    ids = triton.InferInput("customer_ID", [2], "BYTES")
    ids.set_data_from_numpy(np.array(["a", "b"], dtype=np.object_))
    p2 = triton.InferInput("D_75", [3], "FP64")
    p2.set_data_from_numpy(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(InferenceServerException, match="input 'D_75' has 3 rows"):
        client.infer(NAME, [ids, p2])
    answer = httpx.post(
        f"http://{server}{INFER}",
        content=b'{"inputs": [{"name": "customer_ID", "shape": [1], "datatype": "BYTES", "data": [NaN]}]}',
    )
    assert answer.status_code == 400
    assert answer.json() == {"error": "the request is not JSON: JSON is malformed: invalid character (byte 80)"}


def _bytes_tensor(values: list[str]) -> bytes:
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


def test_a_binary_request_through_api_gateway_base64(customers: list[dict[str, Any]]) -> None:
    """API Gateway hands binary bodies to Lambda base64-encoded; the answer goes back the same way."""
    ids = [c["customer_ID"] for c in customers]
    d75 = np.array([np.nan if c.get("D_75") is None else c["D_75"] for c in customers], dtype="<f8")
    tensors = [("customer_ID", "BYTES", _bytes_tensor(ids)), ("D_75", "FP64", d75.tobytes())]
    header = {
        "inputs": [
            {"name": n, "shape": [len(ids)], "datatype": t, "parameters": {"binary_data_size": len(b)}}
            for n, t, b in tensors
        ],
        "outputs": [{"name": "probability", "parameters": {"binary_data": True}}],
    }
    head = json.dumps(header).encode()
    event = http_api_v2("POST", INFER, None)
    event["body"] = base64.b64encode(head + b"".join(b for _, _, b in tensors)).decode()
    event["isBase64Encoded"] = True
    event["headers"].update(
        {"content-type": "application/octet-stream", "inference-header-content-length": str(len(head))}
    )
    response = api.handler(event, LambdaContext("api", 30))
    assert response["statusCode"] == 200 and response["isBase64Encoded"] is True
    body = base64.b64decode(response["body"])
    length = int(response["headers"]["inference-header-content-length"])
    meta = json.loads(body[:length])
    [output] = meta["outputs"]
    probabilities = np.frombuffer(body[length:], dtype="<f8").tolist()
    assert output["parameters"]["binary_data_size"] == len(body) - length == 8 * len(probabilities)
    v1 = api.handler(
        http_api_v2(
            "POST",
            "/v1/predict",
            {"customers": [{k: c[k] for k in ("customer_ID", "S_2", "D_75") if k in c} for c in customers]},
        ),
        LambdaContext("api", 30),
    )
    assert probabilities == [p["probability"] for p in json.loads(v1["body"])["predictions"]]


def test_the_legacy_models_examples_through_v2(legacy_model_dir: Path, legacy_dir: Path) -> None:
    handler = http_handler(Model(str(legacy_model_dir)).load(), Settings.from_env()).handler
    model = Model(str(legacy_model_dir)).load()
    for which, expected in (("good", GOOD_CUSTOMER_PROBABILITY), ("bad", BAD_CUSTOMER_PROBABILITY)):
        customer = json.loads((legacy_dir / f"example_{which}_customer.json").read_text())
        customer.setdefault("customer_ID", which)
        numeric = set(model.pipeline.imputation)
        inputs = [
            {
                "name": name,
                "shape": [1],
                "datatype": "FP64" if name in numeric or not isinstance(value, str) else "BYTES",
                "data": [value],
            }
            for name, value in customer.items()
            if value is not None
        ]
        response = handler(
            http_api_v2("POST", f"/v2/models/{model.name}/infer", {"inputs": inputs}), LambdaContext("api", 30)
        )
        assert response["statusCode"] == 200, response["body"]
        [probability] = next(o["data"] for o in json.loads(response["body"])["outputs"] if o["name"] == "probability")
        assert probability == pytest.approx(expected, abs=1e-6)


_TENSOR = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["customer_ID", "S_2", "D_75", "B_30", "D_63", "XX"]),
        "shape": st.lists(st.integers(-1, 4), min_size=0, max_size=3),
        "datatype": st.sampled_from(["BYTES", "FP64", "FP32", "INT64", "BOOL", "FP99"]),
    },
    optional={
        "data": st.lists(
            st.one_of(
                st.none(),
                st.booleans(),
                st.integers(-3, 3),
                st.floats(allow_nan=False),
                st.text(max_size=5),
                st.lists(st.integers(0, 2), max_size=2),
            ),
            max_size=5,
        ),
        "parameters": st.fixed_dictionaries({"binary_data_size": st.integers(-2, 40)}),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=st.lists(_TENSOR, max_size=4), binary=st.binary(max_size=48), header=st.booleans())
def test_random_v2_bodies_never_get_a_500(inputs: list[dict[str, Any]], binary: bytes, header: bool) -> None:
    head = json.dumps({"inputs": inputs}).encode()
    event = http_api_v2("POST", INFER, None)
    event["body"] = base64.b64encode(head + (binary if header else b"")).decode()
    event["isBase64Encoded"] = True
    if header:
        event["headers"]["inference-header-content-length"] = str(len(head))
    response = api.handler(event, LambdaContext("api", 30))
    assert response["statusCode"] in (200, 400), response["body"]
    if response["statusCode"] == 400:
        assert set(json.loads(response["body"])) == {"error"}


def test_the_v2_events_score_the_batch_events_customers_alike() -> None:
    """events/api-v2-infer-binary.json carries api-predict-batch.json's statements as binary tensors."""
    v1 = api.handler(json.loads((EVENTS / "api-predict-batch.json").read_text()), LambdaContext("api", 30))
    expected = {p["customer_ID"]: p["probability"] for p in json.loads(v1["body"])["predictions"]}
    response = api.handler(json.loads((EVENTS / "api-v2-infer-binary.json").read_text()), LambdaContext("api", 30))
    body = base64.b64decode(response["body"])
    length = int(response["headers"]["inference-header-content-length"])
    sizes = [o["parameters"]["binary_data_size"] for o in json.loads(body[:length])["outputs"]]
    ids_raw, probabilities_raw = (
        body[length : length + sizes[0]],
        body[length + sizes[0] : length + sizes[0] + sizes[1]],
    )
    ids, at = [], 0
    while at < len(ids_raw):
        (size,) = struct.unpack_from("<I", ids_raw, at)
        ids.append(ids_raw[at + 4 : at + 4 + size].decode())
        at += 4 + size
    assert dict(zip(ids, np.frombuffer(probabilities_raw, "<f8").tolist(), strict=True)) == expected
    plain = api.handler(json.loads((EVENTS / "api-v2-infer.json").read_text()), LambdaContext("api", 30))
    assert plain["statusCode"] == 200 and json.loads(plain["body"])["id"] == "v2-example"


MLSERVER = ROOT / ".venv" / "mlserver" / "bin" / "python"
ENCODE_WITH_MLSERVER = """
import json, sys
import pandas as pd
from mlserver.codecs import PandasCodec
frame = pd.DataFrame(json.load(sys.stdin))  # a DataFrame of statements: missing values are NaN
frame = frame.dropna(axis="columns", how="all")  # its codec cannot encode an all-None object column
print(PandasCodec.encode_request(frame).model_dump_json(exclude_none=True))
"""


def test_a_request_built_by_mlservers_pandas_codec_gets_the_v1_scores(
    server: str, customers: list[dict[str, Any]]
) -> None:
    if not MLSERVER.exists():
        pytest.skip(f"{MLSERVER} is missing: run `make install`")
    encoded = subprocess.run(
        [str(MLSERVER), "-c", ENCODE_WITH_MLSERVER],
        input=json.dumps(customers),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(encoded)["parameters"] == {"content_type": "pd"}
    answer = httpx.post(f"http://{server}{INFER}", content=encoded, headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    outputs = {o["name"]: o["data"] for o in answer.json()["outputs"]}
    assert dict(zip(outputs["customer_ID"], outputs["probability"], strict=True)) == v1_probabilities(server, customers)


def test_max_batch_and_max_body_bytes_apply_as_on_v1(synthetic_model: Model) -> None:
    handler = http_handler(synthetic_model, Settings(max_batch=2, max_body_bytes=2_000)).handler
    ids = {"name": "customer_ID", "shape": [3], "datatype": "BYTES", "data": ["a", "b", "c"]}
    response = handler(http_api_v2("POST", INFER, {"inputs": [ids]}), LambdaContext("api", 30))
    assert response["statusCode"] == 400 and json.loads(response["body"]) == {
        "error": "3 customers is over MAX_BATCH=2"
    }
    big = {"name": "customer_ID", "shape": [1], "datatype": "BYTES", "data": ["x" * 3_000]}
    response = handler(http_api_v2("POST", INFER, {"inputs": [big]}), LambdaContext("api", 30))
    assert response["statusCode"] == 413 and json.loads(response["body"]) == {
        "error": "the body is over MAX_BODY_BYTES=2000"
    }


def test_statement_dates_must_be_text(synthetic_model: Model) -> None:
    """S_2 as numbers is refused in JSON as in binary data, not read as a missing date."""
    handler = http_handler(synthetic_model, Settings()).handler
    ids = {"name": "customer_ID", "shape": [2], "datatype": "BYTES", "data": ["a", "a"]}
    for dates in (
        {"name": "S_2", "shape": [2], "datatype": "FP64", "data": [20180301, 20180401]},
        {"name": "S_2", "shape": [2], "datatype": "BYTES", "data": ["2018-03-01", "2018-02-30"]},
    ):
        response = handler(http_api_v2("POST", INFER, {"inputs": [ids, dates]}), LambdaContext("api", 30))
        wrong = dates["data"][-1] if dates["datatype"] == "BYTES" else float(dates["data"][0])
        row = 1 if dates["datatype"] == "BYTES" else 0
        assert response["statusCode"] == 400 and json.loads(response["body"]) == {
            "error": f"input 'S_2' row {row}: {wrong!r} is not a date YYYY-MM-DD"
        }


def test_long_dates_that_are_not_dates_are_refused_and_not_remembered(synthetic_model: Model) -> None:
    """#30: distinct megabyte-long S_2 values, each a 400 with a short message, none kept after."""
    from lambda_function.api.v2 import request

    handler = http_handler(synthetic_model, Settings(max_body_bytes=2_000_000)).handler
    before = request._remembered_date.cache_info().currsize
    for index in range(5):
        text = f"{index}" + "x" * 1_000_000
        inputs = [
            {"name": "customer_ID", "shape": [1], "datatype": "BYTES", "data": ["a"]},
            {"name": "S_2", "shape": [1], "datatype": "BYTES", "data": [text]},
        ]
        response = handler(http_api_v2("POST", INFER, {"inputs": inputs}), LambdaContext("api", 30))
        assert response["statusCode"] == 400 and len(response["body"]) < 300
        assert "is not a date YYYY-MM-DD" in json.loads(response["body"])["error"]
    assert request._remembered_date.cache_info().currsize == before


@settings(max_examples=200, deadline=None)
@given(
    rows=st.integers(1, 4),
    columns=st.dictionaries(
        st.sampled_from(["D_75", "B_30", "D_63", "P_2", "XX"]),
        st.sampled_from(["FP64", "FP32", "INT64", "BOOL", "BYTES"]),
        max_size=4,
    ),
    data=st.data(),
    nested=st.booleans(),
)
def test_the_plain_fast_path_reads_what_the_general_path_reads(
    rows: int, columns: dict[str, str], data: Any, nested: bool
) -> None:
    from lambda_function.api.v2.tensors import decoded_columns, plain_columns

    values = {
        "FP64": st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False), st.integers(-5, 5)),
        "BOOL": st.one_of(st.none(), st.booleans()),
        "BYTES": st.one_of(st.none(), st.text(max_size=3)),
    }
    inputs = [{"name": "customer_ID", "shape": [rows], "datatype": "BYTES", "data": [f"c{i % 2}" for i in range(rows)]}]
    for name, datatype in columns.items():
        kind = values.get(
            datatype, values["FP64"] if datatype.startswith("FP") else st.one_of(st.none(), st.integers(-5, 5))
        )
        column = data.draw(st.lists(kind, min_size=rows, max_size=rows))
        inputs.append({"name": name, "shape": [rows, 1] if nested else [rows], "datatype": datatype, "data": column})
    body = json.dumps({"inputs": inputs}).encode()
    try:
        general = decoded_columns(body, {})
    except V2Error as error:  # the general path refuses it: so does the fast path, alike, or by not taking it
        try:
            assert plain_columns(body) is None, error
        except V2Error as same:
            assert str(same) == str(error)
        return
    plain = plain_columns(body)
    assert plain is not None  # a plain body always takes the fast path
    assert plain[1] == general[1] and plain[2] == general[2]
