"""The HTTP function, through Mangum with API Gateway events and over a real socket."""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest
import xgboost
from helpers import (
    BAD_CUSTOMER_PROBABILITY,
    EVENTS,
    GOOD_CUSTOMER_PROBABILITY,
    ROOT,
    SYNTHETIC_MODEL,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving import api, http_handler

from amex_scoring.events import http_api_v2, rest_api_v1
from amex_scoring.invoke import LambdaContext
from lambda_function.api import payload
from lambda_function.core.scoring import Model
from lambda_function.settings import Settings

EXPECTED_STATUS = {"api-invalid.json": 422}


def call(event: dict[str, Any], handler: Any = None) -> tuple[int, Any, dict[str, str]]:
    response = (handler or api.handler)(event, LambdaContext("api", 30))
    body = response["body"]
    content_type = response["headers"].get("content-type", "")
    return response["statusCode"], json.loads(body) if "json" in content_type else body, response["headers"]


def post(body: Any, path: str = "/v1/predict", query: str = "", handler: Any = None, **headers: str):
    event = http_api_v2("POST", path, body, query=query)
    event["headers"].update(headers)
    return call(event, handler)


def as_read(body: payload.ParsedBody) -> dict[str, Any]:
    """What scoring reads from a parsed body: every known field's values (int and float alike), unknown fields."""

    def kind(value: Any) -> str:
        return "number" if isinstance(value, int | float) else type(value).__name__

    columns = body.columns(sorted(payload.KNOWN_FIELDS))
    fields = {name: [(value, kind(value)) for value in values] for name, values in columns.items()}
    return {"fields": fields, "unknown": body.unknown_fields}


def handler_for(model: Model, **overrides: Any) -> Any:
    settings = dataclasses.replace(Settings.from_env(), **overrides)
    return http_handler(model, settings).handler


@pytest.fixture(scope="module")
def customers() -> list[dict[str, Any]]:
    event = json.loads((EVENTS / "api-predict-batch.json").read_text())
    return json.loads(event["body"])["customers"]


@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS.glob("api-*.json")))
def test_every_api_event_gets_its_answer(name: str) -> None:
    status, body, headers = call(json.loads((EVENTS / name).read_text()))
    assert status == EXPECTED_STATUS.get(name, 200), body
    assert headers["x-request-id"]
    if name == "api-invalid.json":
        assert body["detail"][0]["field"] == "D_48" and body["error"] == "validation_error"
    if name == "api-docs.json":  # behind the Prod stage, the page must fetch /Prod/openapi.json
        assert "/Prod/openapi.json" in body
    if name == "api-explain.json":
        reasons = body["predictions"][0]["reasons"]
        assert len(reasons) == 5 and all("=" not in r["feature"] for r in reasons)
    if name == "api-predict-batch.json":
        assert len(body["predictions"]) == 3  # six statements of three customers


def test_openapi_behind_a_stage_has_the_stage_as_server_and_examples() -> None:
    status, body, _ = call(rest_api_v1("GET", "/openapi.json"))
    assert status == 200
    assert body["servers"] == [{"url": "/Prod"}]
    examples = body["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert set(examples["one customer"]["value"]) >= {"customer_ID", "D_48", "D_63"}
    assert body["paths"]["/predict"]["post"]["deprecated"] is True
    assert "D_48" in body["components"]["schemas"]["Customer"]["properties"]  # a model input
    ok = body["paths"]["/v1/predict"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/PredictResponse"}
    schemas = body["components"]["schemas"]
    assert {"probability", "default", "warnings", "reasons"} <= set(schemas["Prediction"]["properties"])
    assert set(schemas["LegacyResponse"]["properties"]) == {"creditworthiness", "customer_default"}
    references = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(body)))
    assert references and references <= set(schemas)  # every reference resolves


def test_http_api_with_a_named_stage_routes_and_serves_docs() -> None:
    status, body, _ = call(http_api_v2("GET", "/health", stage="prod"))
    assert status == 200 and body["ready"] is True
    status, page, _ = call(http_api_v2("GET", "/docs", stage="prod"))
    assert status == 200 and "/prod/openapi.json" in page


def test_health_and_model_description(synthetic_model: Model) -> None:
    status, body, _ = call(http_api_v2("GET", "/health"))
    assert body["model"] == {
        "name": synthetic_model.name,
        "version": synthetic_model.version,
        "checksum": synthetic_model.checksum,
        "xgboost": xgboost.__version__,  # the library the package ships is the one the binding loads
    }
    status, body, _ = call(rest_api_v1("GET", "/v1/model"))
    assert status == 200 and body["threshold"] == 0.5 and body["metrics"]["auc"] > 0.7
    assert body["xgboost"] == xgboost.__version__
    assert body["inputs"]["categorical"]["D_64"] == ["-1", "None", "O", "R", "U"]


def test_legacy_model_gives_the_reference_scores_on_both_routes(legacy_model_dir: Path, legacy_dir: Path) -> None:
    handler = handler_for(Model(str(legacy_model_dir)).load())
    for which, expected in (("good", GOOD_CUSTOMER_PROBABILITY), ("bad", BAD_CUSTOMER_PROBABILITY)):
        customer = json.loads((legacy_dir / f"example_{which}_customer.json").read_text())
        status, body, _ = post(customer, handler=handler)
        assert status == 200
        assert body["predictions"][0]["probability"] == pytest.approx(expected, abs=1e-6)
        assert body["predictions"][0]["default"] is (expected >= 0.5)
        status, body, headers = post(customer, "/predict", handler=handler)
        assert status == 200 and headers["deprecation"] == "true"
        assert body["creditworthiness"] == pytest.approx(expected, abs=1e-6)
        assert body["customer_default"] is (expected >= 0.5)


def test_api_score_equals_the_score_cli(statements_file: Path, tmp_path: Path) -> None:
    from amex_scoring.cli import main

    assert main(["score", str(statements_file), str(tmp_path / "out.parquet")]) == 0
    cli = dict(
        zip(
            *pq.read_table(tmp_path / "out.parquet").select(["customer_ID", "prediction"]).to_pydict().values(),
            strict=True,
        )
    )
    rows = pq.read_table(statements_file).slice(0, 200).to_pylist()  # whole statement histories
    wanted = {r["customer_ID"] for r in rows[:150]}
    statements = [{k: (None if v != v else v) for k, v in r.items()} for r in rows if r["customer_ID"] in wanted]
    status, body, _ = post({"customers": statements[::-1]})  # reversed: the latest S_2 still wins
    assert status == 200
    assert {p["customer_ID"] for p in body["predictions"]} == wanted
    for prediction in body["predictions"]:
        assert prediction["probability"] == pytest.approx(cli[prediction["customer_ID"]], abs=1e-9)


def test_a_statement_date_may_carry_a_time_of_day_as_in_files(customers: list[dict[str, Any]]) -> None:
    """`2018-03-31 23:59:00` is the statement of 31 March, as the batch path reads it from a file."""
    customer_id = customers[0]["customer_ID"]
    latest = {**customers[0], "S_2": "2018-03-31 23:59:00"}
    older = {**customers[1], "customer_ID": customer_id, "S_2": "2018-03-01T08:00:00"}
    status, body, _ = post({"customers": [latest, older]})
    assert status == 200, body
    _, alone, _ = post({**customers[0], "S_2": "2018-03-31"})
    _, other, _ = post({**older, "S_2": "2018-03-01"})
    assert body["predictions"] == alone["predictions"] != other["predictions"]


def test_an_integer_beyond_any_float_is_an_unseen_category_or_an_invalid_number(
    customers: list[dict[str, Any]],
) -> None:
    """JSON allows 10**400; it was a 500 in a categorical field. Alone and in a batch (the vectorised lookup)."""
    huge = "1" + "0" * 400
    for count in (1, 100):
        batch = {"customers": [{**customers[0], "customer_ID": f"c{i}", "B_30": None} for i in range(count)]}
        status, body, _ = post(json.dumps(batch).replace('"B_30": null', f'"B_30": {huge}'))
        assert status == 200, body
        assert body["predictions"][0]["warnings"] == [f"B_30: unseen category {huge}, encoded as all zeros"]
    status, body, _ = post(json.dumps({**customers[0], "D_48": None}).replace('"D_48": null', f'"D_48": {huge}'))
    assert status == 422 and body["detail"][0]["field"] == "D_48"


def test_a_number_past_float32s_range_scores_and_explains_as_its_largest_value(
    customers: list[dict[str, Any]], synthetic_model: Model
) -> None:
    """1e39 is a valid float64 but ±inf in the booster's float32: it was a 500 when explained."""
    feature = next(name for name in synthetic_model.inputs if name not in synthetic_model.pipeline.vocabularies)
    largest = float(np.finfo(np.float32).max)
    answers = {}
    for value in (1e39, 1e308, largest, -1e39, -largest):
        status, body, _ = post({**customers[0], feature: value}, query="explain=3")
        assert status == 200, body
        answers[value] = body["predictions"][0]["probability"]
    assert answers[1e39] == answers[1e308] == answers[largest] and answers[-1e39] == answers[-largest]


def test_an_event_that_is_not_http_is_refused_saying_where_it_belongs() -> None:
    """A misrouted S3 notification or a hand-made test event: a clear error, not Mangum's guess."""
    s3_event = json.loads((EVENTS / "s3-put.json").read_text())
    for event, shape in [({}, "an empty object"), (s3_event, "keys: Records"), (["x"], "a JSON list, not an object")]:
        with pytest.raises(api.UnsupportedEvent, match=f"not an HTTP event \\({shape}\\).*batch function"):
            api.handler(event, LambdaContext("api", 30))


def test_categorical_spellings_score_alike(customers: list[dict[str, Any]]) -> None:
    base = dict(customers[0], B_30=0.0, D_64="-1")
    scores = set()
    for b30 in (0, 0.0, "0", "0.0"):
        for d64 in ("-1", -1):
            status, body, _ = post(dict(base, B_30=b30, D_64=d64))
            assert status == 200 and body["predictions"][0]["warnings"] == []
            scores.add(body["predictions"][0]["probability"])
    assert len(scores) == 1


def test_unseen_categories_and_unknown_fields_are_warned(customers: list[dict[str, Any]]) -> None:
    status, body, _ = post(dict(customers[0], D_63="QQ", B_38=9, favourite_colour="blue"))
    assert status == 200
    assert body["predictions"][0]["warnings"] == [
        "B_38: unseen category 9, encoded as all zeros",
        "D_63: unseen category 'QQ', encoded as all zeros",
        "unknown fields ignored: favourite_colour",
    ]


def test_missing_features_are_imputed(synthetic_model: Model) -> None:
    status, body, _ = post({"customer_ID": "only-an-id"})
    assert status == 200
    spec = synthetic_model.pipeline
    imputed = {name: value for name, value in spec.imputation.items()}
    imputed.update({name: v.missing for name, v in spec.vocabularies.items()})
    expected = synthetic_model.predict({k: [v] for k, v in imputed.items()}, 1).probability[0]
    assert body["predictions"][0]["probability"] == pytest.approx(expected, abs=1e-9)


def test_threshold_override_sets_default(synthetic_model: Model, customers: list[dict[str, Any]]) -> None:
    low = handler_for(Model(str(SYNTHETIC_MODEL), threshold=0.0).load())
    status, body, _ = post(customers[0], handler=low)
    assert body["predictions"][0]["default"] is True


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"customer_ID": "a", "D_48": "0.5"}, "D_48", "valid number"),
        ('{"customer_ID": "a", "D_48": NaN}', "D_48", "finite number"),
        ('{"customer_ID": "a", "D_48": Infinity}', "D_48", "finite number"),
        ({"customer_ID": "a", "B_30": {"x": 1}}, "B_30", ""),
        ({"customer_ID": "a", "D_63": ["CO"]}, "D_63", ""),
        ({"customer_ID": "a", "D_48": True}, "D_48", "valid number"),
        ({"customer_ID": "a", "S_2": "yesterday"}, "S_2", "date"),
        ({"P_2": 0.5}, "customer_ID", "required"),
        ({"customer_ID": ""}, "customer_ID", "a string of 1 to 256 characters"),
        ({"customer_ID": " \t"}, "customer_ID", "not all blank"),  # as files refuse a blank ID
        ({"customer_ID": "x" * 257}, "customer_ID", "a string of 1 to 256 characters"),
        ({"customer_ID": 12}, "customer_ID", "a string"),
        ({"customers": []}, "customers", "non-empty"),
        ({"customers": [{"customer_ID": "a"}, {"customer_ID": "b", "D_44": "x"}]}, "customers.1.D_44", "valid number"),
        ([1, 2], "", "JSON object"),
        ([{"customer_ID": "a"}], "", '{"customers": [...]}'),  # a bare list: say how to send a batch
    ],
)
def test_invalid_bodies_get_422_naming_the_field(body: Any, field: str, fragment: str) -> None:
    status, answer, _ = post(body)
    assert status == 422, answer
    assert answer["detail"][0]["field"] == field
    assert fragment in answer["detail"][0]["msg"] or fragment in answer["message"]


def test_the_lean_batch_schema_accepts_and_refuses_exactly_what_the_full_one_does(
    synthetic_model: Model, customers: list[dict[str, Any]]
) -> None:
    """Batches of model inputs only take a faster schema; its verdicts must be the full schema's."""
    lean = payload.fast_paths(synthetic_model.inputs)
    inputs_only = [
        {k: v for k, v in c.items() if k in {"customer_ID", "S_2", *synthetic_model.inputs}} for c in customers
    ]
    first_input = synthetic_model.inputs[0]
    bodies = [
        {"customers": inputs_only},
        {"customers": customers},
        {"customers": [*inputs_only[:3], {**inputs_only[3], "P_2": "high"}]},  # not read: taken as it comes
        {"customers": [*inputs_only[:3], {**inputs_only[3], first_input: "high"}]},
        {"customers": [*inputs_only[:3], {**inputs_only[3], first_input: True}]},
        {"customers": [*inputs_only[:3], {**inputs_only[3], "D_63": 1.5, "B_30": "0"}]},
        {"customers": [*inputs_only[:3], {**inputs_only[3], "favourite_colour": "blue"}]},
        {"customers": [*inputs_only[:3], {"S_2": "2018-01-01"}]},
        {"customers": [{**inputs_only[0], "S_2": "2018-02-30"}]},
        {"customers": [{**inputs_only[0], "S_2": None, first_input: None}]},
    ]

    def verdict(raw: bytes, lean: Any) -> Any:
        try:
            return as_read(
                payload.parse_customers(raw, synthetic_model.inputs, single=False, max_batch=1000, fast=lean)
            )
        except payload.RequestError as error:
            return (error.status, error.detail)

    verdicts = []
    for body in bodies:
        raw = json.dumps(body).encode()
        with_lean = verdict(raw, lean)
        assert with_lean == verdict(raw, ()), body
        verdicts.append(isinstance(with_lean, dict))
    assert verdicts == [True, True, True, False, False, True, True, False, False, True]


def test_the_handler_module_tunes_the_garbage_collector_for_serving_and_the_tests_are_left_alone() -> None:
    """handlers/api.py: import-time objects stay out of full passes, young passes run less often
    (latency). In a process of its own: the tests' handlers (serving.py) change nothing of this one."""
    import gc

    script = "import gc, lambda_function.handlers.api; print(gc.get_freeze_count(), gc.get_threshold()[0])"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    frozen, threshold = map(int, result.stdout.split()[-2:])
    assert frozen > 10_000 and threshold == 50_000
    assert gc.get_freeze_count() == 0 and gc.get_threshold()[0] == 700  # this session: Python's defaults


def test_malformed_json_is_400_and_wrong_content_type_is_415() -> None:
    status, body, _ = post('{"customer_ID": "a",')
    assert status == 400 and body["error"] == "malformed_json"
    assert body["message"].endswith("at line 1 column 20")  # where the parser stopped
    status, body, _ = post(" \n")
    assert status == 400 and body["message"].startswith("the body is empty")
    status, body, _ = post("customer_ID=a", **{"content-type": "application/x-www-form-urlencoded"})
    assert status == 415 and "application/json" in body["message"]


def test_oversized_bodies_and_batches_are_413(synthetic_model: Model) -> None:
    small = handler_for(synthetic_model, max_batch=2, max_body_bytes=2000)
    status, body, _ = post({"customers": [{"customer_ID": str(i)} for i in range(3)]}, handler=small)
    assert status == 413 and body["error"] == "batch_too_large"
    status, body, _ = post({"customer_ID": "a", "padding": "x" * 3000}, handler=small)
    assert status == 413 and body["error"] == "body_too_large"


def test_explain_rejects_out_of_range_values() -> None:
    status, body, _ = post({"customer_ID": "a"}, query="explain=99")
    assert status == 422 and body["detail"][0]["field"] == "query.explain"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**400, -(10**400)])
    | st.floats()
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
field_names = st.sampled_from(["customer_ID", "S_2", "P_2", "D_48", "B_30", "D_63", "D_64", "B_38", "x"])
customer_like = st.dictionaries(field_names, json_values, max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(
        json_values,
        customer_like,
        st.fixed_dictionaries({"customers": st.lists(customer_like, max_size=4)}),
        st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
    )
)
def test_random_bodies_never_cause_a_500(body: Any) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    status, _, _ = post(text)
    assert status in (200, 400, 413, 422)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_same_app_over_a_real_socket(customers: list[dict[str, Any]]) -> None:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(api.asgi_app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert client.get("/health").json()["ready"] is True
            over_socket = client.post("/v1/predict", json={"customers": customers}).json()
            assert (
                client.post("/v1/predict", content=b"{", headers={"content-type": "application/json"}).status_code
                == 400
            )
            assert client.post("/predict", json=customers[0]).status_code == 200
        _, in_lambda, _ = post({"customers": customers})
        assert over_socket["predictions"] == in_lambda["predictions"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_streamed_body_is_refused_once_past_the_limit_not_read_to_its_end() -> None:
    """Chunked, with no Content-Length (as `serve` may get it): 413 without holding the rest in memory."""
    import asyncio

    chunk = b" " * 65536
    received: list[int] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:  # a client that would send 24 MB, then hang up
        if sum(received) >= 4 * api.SETTINGS.max_body_bytes:
            return {"type": "http.disconnect"}
        received.append(len(chunk))
        body = b'{"customer_ID": "a"' if len(received) == 1 else chunk
        return {"type": "http.request", "body": body, "more_body": sum(received) < 4 * api.SETTINGS.max_body_bytes}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/predict",
        "raw_path": b"/v1/predict",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(api.asgi_app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"] == "body_too_large"
    assert sum(received) <= api.SETTINGS.max_body_bytes + 2 * len(chunk)


def test_the_api_module_imports_no_pyarrow_pandas_sklearn_or_the_xgboost_package() -> None:
    """Block them outright: the handler must import, predict and explain without them.

    XGBoost's library is called directly; its Python package (which imports SciPy) is not loaded.
    """
    script = """
import importlib.abc, json, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('pyarrow', 'pandas', 'sklearn', 'scipy'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
from amex_scoring.invoke import LambdaContext
"""
    script += f"""
from lambda_function.handlers.api import handler
for name in ('api-predict.json', 'api-explain.json'):
    event = json.loads(open({str(EVENTS)!r} + '/' + name).read())
    response = handler(event, LambdaContext('api', 30))
    assert response['statusCode'] == 200, response
print(sorted(m for m in ('pyarrow', 'pandas', 'sklearn', 'scipy', 'xgboost') if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_an_internal_error_is_a_json_500_with_the_request_id(synthetic_model: Model, monkeypatch) -> None:
    """A bug, not an input: the caller gets the request id to quote, never a stack trace."""
    handler = handler_for(synthetic_model)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(synthetic_model, "predict", broken)
    status, body, headers = post({"customer_ID": "a"}, handler=handler)
    assert status == 500
    assert body == {"error": "internal_error", "message": "internal error", "request_id": headers["x-request-id"]}


def test_base64_bodies_from_api_gateway_are_decoded(customers: list[dict[str, Any]]) -> None:
    import base64

    event = rest_api_v1("POST", "/v1/predict", customers[0])
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    status, body, _ = call(event)
    assert status == 200 and body["predictions"][0]["customer_ID"] == customers[0]["customer_ID"]


def _gzip_event(data: bytes, encoding: str = "gzip") -> dict[str, Any]:
    import base64

    event = http_api_v2("POST", "/v1/predict", None)
    event["headers"].update({"content-type": "application/json", "content-encoding": encoding})
    event["body"], event["isBase64Encoded"] = base64.b64encode(data).decode(), True
    return event


def test_gzip_bodies_score_as_the_plain_ones(customers: list[dict[str, Any]]) -> None:
    import gzip

    text = json.dumps({"customers": customers}).encode()
    plain = post({"customers": customers})
    assert plain[0] == 200
    assert call(_gzip_event(gzip.compress(text)))[1] == plain[1]


def test_gzip_bodies_are_checked_before_parsing(synthetic_model: Model) -> None:
    import gzip

    small = handler_for(synthetic_model, max_body_bytes=2000)
    bomb = gzip.compress(json.dumps({"customer_ID": "a", "padding": "x" * 100_000}).encode())
    assert len(bomb) < 2000
    status, body, _ = call(_gzip_event(bomb), small)
    assert status == 413 and "inflates to more than MAX_BODY_BYTES=2000" in body["message"]
    status, body, _ = call(_gzip_event(b'{"customer_ID": "a"}'))
    assert status == 400 and body["error"] == "malformed_body" and "not" in body["message"]
    status, body, _ = call(_gzip_event(gzip.compress(b'{"customer_ID": "a"}')[:-6]))
    assert status == 400 and "truncated" in body["message"]
    status, body, _ = call(_gzip_event(b"", encoding="br"))
    assert status == 415 and body["error"] == "unsupported_content_encoding"


def test_a_utf8_byte_order_mark_is_ignored(customers: list[dict[str, Any]]) -> None:
    status, body, _ = post("\ufeff" + json.dumps(customers[0]))
    assert status == 200 and body["predictions"][0]["customer_ID"] == customers[0]["customer_ID"]


def test_unknown_paths_and_methods_answer_in_the_error_shape() -> None:
    status, body, headers = call(http_api_v2("GET", "/v2/predict"))
    assert status == 404 and body["error"] == "not_found" and body["request_id"] == headers["x-request-id"]
    status, body, headers = call(http_api_v2("GET", "/v1/predict"))
    assert status == 405 and body["error"] == "method_not_allowed" and headers["allow"] == "POST"


@pytest.mark.parametrize("value", [20180331, "20180331", 1522454400, "1522454400", True])
def test_a_statement_date_that_is_not_iso_text_is_refused_not_read_as_unix_time(value: Any) -> None:
    """Pydantic alone reads these as seconds since 1970: the wrong statement would be the latest."""
    status, body, _ = post({"customer_ID": "a", "S_2": value})
    assert status == 422 and body["detail"][0]["field"] == "S_2"
    assert body["detail"][0]["msg"] == (
        "Input should be a date YYYY-MM-DD, optionally with a time of day hh:mm[:ss[.f]] and an offset"
    )


def test_a_request_route_refuses_endpoints_that_need_fastapi_to_resolve_parameters() -> None:
    from fastapi import FastAPI, Request

    async def needs_a_query(request: Request, explain: int = 0) -> None: ...

    with pytest.raises(TypeError, match="takes one parameter, the Request"):
        FastAPI().router.add_api_route("/x", needs_a_query, methods=["POST"], route_class_override=api.RequestRoute)


lean_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=70),
    st.sampled_from(["2018-03-31", "2018-02-30", "20180331", " 2018-03-31", "2018-03-31 10:00", "0", "0.0", "CO"]),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_fast_paths_never_disagree_with_the_full_schema(synthetic_model: Model, data: st.DataObject) -> None:
    """Whatever a body holds, a fast path's answer, or its refusal, is the full schema's."""
    inputs = [*synthetic_model.inputs[:3], *sorted(synthetic_model.pipeline.vocabularies)[:2]]
    names = ["customer_ID", "S_2", *inputs, "P_2", "D_63", "favourite_colour"]  # P_2: read by no model input
    customer = st.dictionaries(st.sampled_from(names), lean_values, max_size=5)
    with_id = customer.map(lambda c: c if "customer_ID" in c or len(c) % 3 == 0 else {**c, "customer_ID": "c1"})
    single = data.draw(st.booleans())
    body = data.draw(with_id if data.draw(st.booleans()) else st.fixed_dictionaries({"customers": st.lists(with_id)}))
    raw = json.dumps(body).encode()

    def verdict(fast: Any) -> Any:
        try:
            return as_read(
                payload.parse_customers(raw, synthetic_model.inputs, single=single, max_batch=1000, fast=fast)
            )
        except payload.RequestError as error:
            return (error.status, error.detail)

    assert verdict(payload.fast_paths(synthetic_model.inputs)) == verdict(())
