"""#30, the Open Inference Protocol: what answered 500 or was read loosely is a 400 in the
protocol's shape naming the field, through the Lambda handler (API Gateway's event) and on a real
socket (`amex-scoring serve` under uvicorn)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from helpers import SYNTHETIC_MODEL, served
from serving import api, http_handler

from amex_scoring.events import http_api_v2
from amex_scoring.invoke import LambdaContext
from lambda_function.core.scoring import Model
from lambda_function.settings import Settings

INFER = "/v2/models/amex-default-xgboost/infer"
IDS = {"name": "customer_ID", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}
D75 = {"name": "D_75", "shape": [2], "datatype": "FP64", "data": [0.1, 0.7]}

Send = Callable[[bytes, dict[str, str]], tuple[int, Any]]


@pytest.fixture(scope="module")
def socket_server() -> Iterator[str]:
    with served(SYNTHETIC_MODEL) as (url, _):
        yield url


def _through_lambda(body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    event = http_api_v2("POST", INFER, None)
    event["body"] = body.decode()
    event["headers"].update({"content-type": "application/json", **headers})
    answer = api.handler(event, LambdaContext("api", 30))
    return answer["statusCode"], json.loads(answer["body"])


@pytest.fixture(params=["lambda", "socket"])
def send(request: pytest.FixtureRequest) -> Send:
    if request.param == "lambda":
        return _through_lambda
    url = request.getfixturevalue("socket_server")

    def over_socket(body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        sent = {
            name: value.encode("latin-1") for name, value in {"content-type": "application/json", **headers}.items()
        }
        answer = httpx.post(url + INFER, content=body, headers=sent)
        return answer.status_code, answer.json()

    return over_socket


def _infer(send: Send, **request: Any) -> tuple[int, Any]:
    return send(json.dumps({"inputs": [IDS, D75], **request}).encode(), {})


def test_a_header_length_of_thousands_of_digits_is_a_400(send: Send) -> None:
    body = json.dumps({"inputs": [IDS, D75]}).encode()
    for declared in ("9" * 5000, "1" + "0" * 4300, "²", "-1", str(len(body) + 1)):
        status, answer = send(body, {"inference-header-content-length": declared})
        assert status == 400 and "Inference-Header-Content-Length" in answer["error"], (declared[:10], answer)
        assert len(answer["error"]) < 200


def test_outputs_with_parameters_or_names_of_the_wrong_type_are_400s_naming_them(send: Send) -> None:
    for parameters in ([1], "x", 5, True):
        status, answer = _infer(send, outputs=[{"name": "probability", "parameters": parameters}])
        assert status == 400 and answer["error"].startswith("outputs[0].parameters (output 'probability') must be")
    for name in ({}, ["probability"], 7, None):
        status, answer = _infer(send, outputs=[{"name": "customer_ID"}, {"name": name}])
        assert status == 400 and answer["error"].startswith("outputs[1].name must be one of"), answer
    status, answer = _infer(send, outputs=["probability"])
    assert status == 400 and "Expected `object`, got `str` - at `$.outputs[0]`" in answer["error"]


def test_binary_flags_are_json_booleans_and_text_is_not_true(send: Send) -> None:
    status, answer = _infer(send, outputs=[{"name": "probability", "parameters": {"binary_data": "false"}}])
    assert status == 400 and "outputs[0].parameters.binary_data must be true or false" in answer["error"]
    status, answer = _infer(send, parameters={"binary_data_output": "false"})
    assert status == 400 and "parameters.binary_data_output must be true or false" in answer["error"]
    status, answer = _infer(send, outputs=[{"name": "probability", "parameters": {"binary_data": False}}])
    assert status == 200 and len(answer["outputs"][0]["data"]) == 2  # JSON data, as asked


def test_an_output_asked_for_twice_is_refused_rather_than_built_twice(send: Send) -> None:
    status, answer = _infer(send, outputs=[{"name": "reasons", "parameters": {"top": 20}}] * 100)
    assert status == 400 and answer["error"] == "output 'reasons' is asked for more than once: ask for each output once"


def test_reasons_by_request_parameter_as_tritonclient_can_send_them(send: Send) -> None:
    status, answer = _infer(send, parameters={"reasons": 2})
    outputs = {output["name"]: output["data"] for output in answer["outputs"]}
    assert status == 200 and set(outputs) == {"customer_ID", "probability", "default", "reasons"}
    assert [len(json.loads(text)) for text in outputs["reasons"]] == [2, 2]
    for wrong in (0, 21, "3", 2.5, True):
        status, answer = _infer(send, parameters={"reasons": wrong})
        assert status == 400 and "parameters.reasons must be an integer from 1 to 20" in answer["error"]


@pytest.mark.parametrize(
    ("datatype", "value"),
    [
        ("UINT8", -1),
        ("UINT8", 256),
        ("INT8", 300),
        ("INT16", -40000),
        ("UINT64", -1),
        ("FP16", 70000.0),
        ("FP32", 1e39),
    ],
)
def test_numbers_outside_their_declared_datatype_are_400s(send: Send, datatype: str, value: float) -> None:
    tensor = {"name": "D_75", "shape": [2], "datatype": datatype, "data": [0, value]}
    for inputs in ([IDS, tensor], [IDS, {**tensor, "shape": [2, 1], "data": [[0], [value]]}]):  # both decoders
        status, answer = send(json.dumps({"inputs": inputs}).encode(), {})
        assert status == 400 and answer["error"].startswith(f"input 'D_75' row 1: {value!r} is outside {datatype}")


def test_numbers_at_the_edges_of_their_datatype_are_scored(send: Send) -> None:
    for datatype, edge in (("UINT8", 255), ("INT8", -128), ("FP16", 65504.0)):
        tensor = {"name": "D_75", "shape": [2], "datatype": datatype, "data": [0, edge]}
        status, _ = send(json.dumps({"inputs": [IDS, tensor]}).encode(), {})
        assert status == 200, datatype


def test_an_answer_that_could_pass_lambdas_response_limit_is_refused_before_it_is_built(
    synthetic_model: Model,
) -> None:
    """With MAX_BATCH raised to 3000, 3000 customers with 20 reasons each could be 12 MB."""
    handler = http_handler(synthetic_model, Settings(max_batch=3000, max_body_bytes=6_000_000)).handler
    ids = [f"c{i}" for i in range(3000)]
    v1 = http_api_v2("POST", "/v1/predict", {"customers": [{"customer_ID": i} for i in ids]}, query="explain=20")
    answer = handler(v1, LambdaContext("api", 30))
    body = json.loads(answer["body"])
    assert answer["statusCode"] == 413 and body["error"] == "response_too_large"
    assert "over Lambda's 6 MB response limit" in body["message"]
    tensors = {"inputs": [{"name": "customer_ID", "shape": [3000], "datatype": "BYTES", "data": ids}]}
    answer = handler(http_api_v2("POST", INFER, {**tensors, "parameters": {"reasons": 20}}), LambdaContext("api", 30))
    assert answer["statusCode"] == 413 and "over Lambda's 6 MB response limit" in json.loads(answer["body"])["error"]
    answer = handler(http_api_v2("POST", INFER, tensors), LambdaContext("api", 30))  # without reasons: small
    assert answer["statusCode"] == 200
