"""What an adversarial run found in the HTTP function, each pinned with its own input."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from serving import api

from amex_scoring.events import http_api_v2, rest_api_v1
from amex_scoring.invoke import LambdaContext
from lambda_function.api.openapi import RESPONSE_MODELS
from lambda_function.core.rules import STATEMENT_DATE_PATTERN

ONE = {"customer_ID": "a", "P_2": 0.5}


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = api.handler(event, LambdaContext("api", 30))
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize("raw", ["", "²", "③", "①", "0" * 4301, "٣", "３", "21", "-1", "1.0", " 1", "00021"])
def test_explain_takes_only_ascii_digits_up_to_its_limit(raw: str) -> None:
    status, body = call(http_api_v2("POST", "/v1/predict", ONE, query=f"explain={raw}"))
    assert status == 422, body
    assert body["detail"][0]["field"] == "query.explain"
    assert body["message"] == "query.explain: must be an integer from 0 to 20"


@pytest.mark.parametrize(("raw", "reasons"), [("0", None), ("3", 3), ("020", 20)])
def test_explain_in_range_is_honoured(raw: str, reasons: int | None) -> None:
    status, body = call(http_api_v2("POST", "/v1/predict", ONE, query=f"explain={raw}"))
    assert status == 200
    got = body["predictions"][0].get("reasons")
    assert (None if got is None else len(got)) == reasons


def test_fields_beside_customers_are_refused_not_dropped() -> None:
    status, body = call(http_api_v2("POST", "/v1/predict", {"customers": [ONE], "customer_ID": "b", "P_2": 0.5}))
    assert status == 422
    assert [item["field"] for item in body["detail"]] == ["P_2", "customer_ID"]
    assert body["message"] == (
        "P_2: not allowed beside customers: each customer's fields go inside its object in customers"
    )


def _broken(shape: str, **change: Any) -> dict[str, Any]:
    event = http_api_v2("POST", "/v1/predict", ONE) if shape == "v2" else rest_api_v1("POST", "/v1/predict", ONE)
    event = copy.deepcopy(event)
    event.update(change)
    return event


@pytest.mark.parametrize(
    ("shape", "change", "message"),
    [
        ("v2", {"headers": None}, "headers must be an object in a version 2.0 event"),
        ("v2", {"body": {"customer_ID": "a"}}, "body must be a string or null, not a JSON dict"),
        ("v1", {"body": 5}, "body must be a string or null, not a JSON int"),
        ("v1", {"body": "!!!x", "isBase64Encoded": True}, "body is marked isBase64Encoded but is not base64"),
        # a character outside the alphabet inside otherwise good base64: refused, not skipped
        ("v2", {"body": "eyJjdXN0b21lcl9JRCI6*ICJhIn0=", "isBase64Encoded": True}, "body is marked isBase64Encoded"),
        ("v2", {"body": "eyJjdXN0b21lcl9JRCI6ICJhIn0é", "isBase64Encoded": True}, "body is marked isBase64Encoded"),
        ("v2", {"rawQueryString": None}, "rawQueryString must be a string"),
        ("v1", {"multiValueHeaders": ["x"]}, "multiValueHeaders must be an object or null"),
        ("v2", {"requestContext": None}, "requestContext must be an object"),
    ],
)
def test_events_api_gateway_never_sends_get_a_400(shape: str, change: dict[str, Any], message: str) -> None:
    event = _broken(shape, **change)
    response = api.handler(event, LambdaContext("api", 30))
    assert response["statusCode"] == 400
    body = json.loads(response["body"])
    assert body["error"] == "malformed_event" and body["message"].startswith(message)
    assert response["headers"]["content-type"] == "application/json"
    if isinstance(event.get("multiValueHeaders"), dict):  # a REST or multi-value ALB event: answered in kind
        assert response["multiValueHeaders"]["content-type"] == ["application/json"]


def test_a_rest_event_with_null_headers_is_still_served() -> None:
    """REST APIs' console tests send `headers: null`: that is a real event, answered."""
    status, body = call(_broken("v1", headers=None, multiValueHeaders=None))
    assert status == 200 and body["predictions"][0]["customer_ID"] == "a"


def test_every_status_each_operation_answers_is_documented() -> None:
    paths = api.app.openapi()["paths"]
    statuses = {path: set(operation["responses"]) for path, item in paths.items() for operation in item.values()}
    assert statuses["/v1/predict"] == {"200", "400", "413", "415", "422"}
    assert statuses["/predict"] == {"200", "400", "413", "415", "422"}
    assert statuses["/health"] == {"200"}  # a function whose model will not load does not start
    assert statuses["/v1/model"] == {"200"}
    components = api.app.openapi()["components"]["schemas"]
    assert {model.__name__ for model in RESPONSE_MODELS} <= set(components)


@pytest.mark.parametrize(
    "value", ["0000-00-00", "2018-13-01", "2018-02-30", "2018-03-13T", "2018-03-13 junk", "2018-03-13T25:00"]
)
def test_statement_dates_the_schema_refuses_the_server_refuses(value: str) -> None:
    assert not re.search(STATEMENT_DATE_PATTERN, value)
    status, body = call(http_api_v2("POST", "/v1/predict", {**ONE, "S_2": value}))
    assert status == 422 and body["detail"][0]["field"] == "S_2"


@given(
    st.integers(0, 10_000),
    st.integers(0, 13),
    st.integers(0, 32),
    st.sampled_from(["", "T10:00", " 23:59:59", "T00:00:00.5Z", "T12:00+01:00"]),
)
def test_the_date_pattern_is_the_calendar(year: int, month: int, day: int, time: str) -> None:
    text = f"{year:04d}-{month:02d}-{day:02d}"
    try:
        dt.date(year, month, day)
        real = True
    except ValueError:
        real = False
    assert bool(re.search(STATEMENT_DATE_PATTERN, text + time)) == real
