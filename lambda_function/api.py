"""The HTTP function: FastAPI behind Mangum, for API Gateway REST/HTTP APIs and function URLs.

The model loads once per container, at import (Mangum runs the ASGI lifespan on every
invocation, so it is switched off). Nothing here imports pyarrow, pandas or scikit-learn.
"""

from __future__ import annotations

import base64
import binascii
import gc
import json
import math
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

import pydantic_core
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse as StarletteJSONResponse
from fastapi.routing import APIRoute
from mangum import Mangum
from mangum.protocols import HTTPCycle
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException

from .payload import (
    MAX_EXPLAIN,
    ParsedBody,
    RequestError,
    customer_adapter,
    explain_count,
    fast_paths,
    field_name,
    inflate,
    parse_customers,
)
from .schema import CUSTOMER_ID, STATEMENT_DATE
from .scoring import Model, latest_statements
from .settings import Settings
from .telemetry import MetricUnit, count_rejection, logger, metrics


class RequestRoute(APIRoute):
    """A route whose endpoint takes the request alone and returns a response.

    FastAPI's own handler resolves dependencies, parameters and response models on every
    request; the scoring endpoints have none, and skipping that machinery takes 60 µs off a
    one-customer request (measured: a sixth of the framework's time). The route is declared
    as any other, so FastAPI's OpenAPI schema still describes it.
    """

    def get_route_handler(self) -> Any:
        dependant = self.dependant
        extra = [*dependant.path_params, *dependant.query_params, *dependant.header_params, *dependant.body_params]
        if extra or dependant.dependencies or dependant.cookie_params or dependant.request_param_name is None:
            raise TypeError(f"{self.path}: a RequestRoute endpoint takes one parameter, the Request")
        return self.endpoint


class JSONResponse(StarletteJSONResponse):
    """Serialised by pydantic-core: a 1000-customer answer in a quarter of `json.dumps`'s time."""

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content, inf_nan_mode="null")


class ModelInfo(BaseModel):
    name: str
    version: str


class Reason(BaseModel):
    feature: str
    value: float | str | None
    contribution: float


class Prediction(BaseModel):
    customer_ID: str
    probability: float
    default: bool
    warnings: list[str]
    reasons: list[Reason] | None = None


class PredictResponse(BaseModel):
    model: ModelInfo
    predictions: list[Prediction]


class LegacyResponse(BaseModel):
    creditworthiness: float
    customer_default: bool


REF_TEMPLATE = "#/components/schemas/{model}"


def _documented(response: type[BaseModel], description: str) -> dict[str, Any]:
    """A 200 response documented by reference. Not `response_model=`: the endpoints write their
    JSON directly, and FastAPI's response-model setup imports pydantic.v1 (50 ms of cold start)."""
    schema = {"$ref": REF_TEMPLATE.format(model=response.__name__)}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


# `explain` is read by hand: a FastAPI Query dependency costs a sizeable share of a
# one-millisecond request.
EXPLAIN_PARAMETER = {
    "name": "explain",
    "in": "query",
    "required": False,
    "description": "add the N inputs that moved each score most",
    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_EXPLAIN, "default": 0},
}
CONTENT_ENCODING_PARAMETER = {
    "name": "Content-Encoding",
    "in": "header",
    "required": False,
    "description": "gzip, to send a compressed body (MAX_BODY_BYTES limits its inflated size)",
    "schema": {"type": "string", "enum": ["gzip", "identity"]},
}


def _scope_request_id(scope: MutableMapping[str, Any]) -> str:
    context = scope.get("aws.context")
    if context is not None and getattr(context, "aws_request_id", None):
        return str(context.aws_request_id)
    event = scope.get("aws.event") or {}
    return str((event.get("requestContext") or {}).get("requestId") or uuid.uuid4())


def _example(model: Model | None) -> dict[str, Any]:
    """A typical customer for the docs, from the loaded model's own preprocessing."""
    customer: dict[str, Any] = {CUSTOMER_ID: "0" * 63 + "1", STATEMENT_DATE: "2018-03-13"}
    if model is not None:
        customer.update({name: round(value, 6) for name, value in model.pipeline.imputation.items()})
        customer.update({name: v.categories[0] for name, v in model.pipeline.vocabularies.items()})
    return customer


def create_app(model: Model | None, settings: Settings, load_error: str | None = None) -> FastAPI:
    app = FastAPI(
        title="AmEx default scoring",
        version=model.version if model else "unavailable",
        description="Probability that a card customer defaults, from their latest monthly statement. "
        "Send the statement fields of the AmEx layout; missing fields are imputed as in training.",
    )
    example = _example(model)
    fast = fast_paths(model.inputs) if model is not None else ()
    predict_body = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/Customer"},
                        {
                            "type": "object",
                            "required": ["customers"],
                            "properties": {
                                "customers": {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": settings.max_batch,
                                    "items": {"$ref": "#/components/schemas/Customer"},
                                }
                            },
                        },
                    ]
                },
                "examples": {
                    "one customer": {"value": example},
                    "batch": {"value": {"customers": [example, {**example, CUSTOMER_ID: "0" * 63 + "2"}]}},
                },
            }
        },
    }

    def ready() -> Model:
        if model is None:
            raise RequestError(503, "model_unavailable", f"model not loaded: {load_error}")
        return model

    too_large = f"the body is over MAX_BODY_BYTES={settings.max_body_bytes}"

    async def read_customers(request: Request, *, single: bool) -> ParsedBody:
        content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise RequestError(
                415, "unsupported_media_type", f"send Content-Type: application/json, not {content_type!r}"
            )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > settings.max_body_bytes:
            raise RequestError(413, "body_too_large", too_large)
        # Not `request.body()`: it copies even a body that came in one piece, as Lambda's always
        # does (4 ms for 5 MB, measured), and reads all of a streamed body before it can be refused.
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_body_bytes:
                raise RequestError(413, "body_too_large", too_large)
            if chunk:
                chunks.append(chunk)
        body = b"".join(chunks)  # one chunk: that very object, not a copy
        body = inflate(body, request.headers.get("content-encoding"), settings.max_body_bytes)
        return parse_customers(body, single=single, max_batch=settings.max_batch, fast=fast)

    def score(body: ParsedBody, explain: int = 0) -> tuple[Model, list[dict[str, Any]]]:
        """Predictions as plain dicts: the response is written directly, not re-validated."""
        active = ready()
        columns = body.columns([CUSTOMER_ID, *active.inputs])
        ids = columns.pop(CUSTOMER_ID)
        if len(set(ids)) < len(ids):  # several statements of a customer: score its latest
            rows = latest_statements(ids, body.columns([STATEMENT_DATE])[STATEMENT_DATE])
            ids = [ids[row] for row in rows]
            columns = {name: [values[row] for row in rows] for name, values in columns.items()}
        unknown = body.unknown_fields
        scores = active.predict(columns, len(ids))
        reasons = active.explain(scores.encoded, explain) if explain else None
        probabilities, defaults = scores.probability.tolist(), scores.default.tolist()
        if any(map(math.isnan, probabilities)):  # validation admits only finite numbers: a bug if reached
            raise RuntimeError("a validated customer could not be scored")
        warnings = scores.encoded.warnings  # this request's own lists: safe to extend
        if unknown:
            for row, customer_id in enumerate(ids):
                if customer_id in unknown:
                    warnings[row].append(f"unknown fields ignored: {', '.join(sorted(unknown[customer_id]))}")
        predictions = [
            {"customer_ID": customer_id, "probability": probability, "default": default, "warnings": notes}
            for customer_id, probability, default, notes in zip(ids, probabilities, defaults, warnings, strict=True)
        ]
        if reasons is not None:
            for prediction, reason in zip(predictions, reasons, strict=True):
                prediction["reasons"] = reason
        metrics.add_metric(name="CustomersScored", unit=MetricUnit.Count, value=len(predictions))
        return active, predictions

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        """A bug, never an input: answer without a stack trace (Observe logs it)."""
        request_id = getattr(request.state, "request_id", None)
        return JSONResponse(
            {"error": "internal_error", "message": "internal error", "request_id": request_id}, status_code=500
        )

    @app.exception_handler(RequestError)
    async def request_error(request: Request, error: RequestError) -> JSONResponse:
        count_rejection(error.error)
        body: dict[str, Any] = {
            "error": error.error,
            "message": error.message,
            "request_id": getattr(request.state, "request_id", None),
        }
        if error.detail is not None:
            body["detail"] = error.detail
        return JSONResponse(body, status_code=error.status)

    @app.exception_handler(HTTPException)
    async def routing_error(request: Request, error: HTTPException) -> JSONResponse:
        """Unknown paths and methods answer in the same shape as every other error."""
        kind, message = {
            404: ("not_found", f"no endpoint at {request.url.path}: see /docs"),
            405: ("method_not_allowed", f"{request.method} is not allowed on {request.url.path}"),
        }.get(error.status_code, ("http_error", str(error.detail)))
        response = await request_error(request, RequestError(error.status_code, kind, message))
        response.headers.update(error.headers or {})  # 405's Allow
        return response

    @app.exception_handler(RequestValidationError)
    async def query_error(request: Request, error: RequestValidationError) -> JSONResponse:
        detail = [
            {
                "field": field_name(tuple(item["loc"])),
                "loc": list(item["loc"]),
                "msg": item["msg"],
                "type": item["type"],
            }
            for item in error.errors()
        ]
        return await request_error(
            request, RequestError(422, "validation_error", f"{detail[0]['field']}: {detail[0]['msg']}", detail)
        )

    async def predict(request: Request) -> JSONResponse:
        # Parsing an empty query string into QueryParams costs 1% of a one-customer request.
        explain = explain_count(request.query_params.get("explain")) if request.scope.get("query_string") else 0
        active, predictions = score(await read_customers(request, single=False), explain)
        return JSONResponse({"model": {"name": active.name, "version": active.version}, "predictions": predictions})

    app.router.add_api_route(
        "/v1/predict",
        predict,
        methods=["POST"],
        route_class_override=RequestRoute,
        openapi_extra={"requestBody": predict_body, "parameters": [EXPLAIN_PARAMETER, CONTENT_ENCODING_PARAMETER]},
        summary="Score one customer or a batch; the latest statement (S_2) of each customer is scored",
        responses={
            200: _documented(PredictResponse, "one prediction per customer, in request order"),
            400: {"description": "malformed JSON, or a body that is not the gzip its Content-Encoding says"},
            413: {"description": "body (inflated, if gzip) or batch too large"},
            415: {"description": "not JSON, or compressed other than with gzip"},
            422: {"description": "a field is invalid"},
        },
    )

    async def legacy_predict(request: Request) -> JSONResponse:
        _, [prediction] = score(await read_customers(request, single=True))
        return JSONResponse(
            {"creditworthiness": prediction["probability"], "customer_default": prediction["default"]},
            headers={"Deprecation": "true", "Link": '</v1/predict>; rel="successor-version"'},
        )

    app.router.add_api_route(
        "/predict",
        legacy_predict,
        methods=["POST"],
        route_class_override=RequestRoute,
        responses={200: _documented(LegacyResponse, "the original service's answer")},
        deprecated=True,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Customer"}, "example": example}
                },
            }
        },
        summary="The original Flask service's contract (one customer); use /v1/predict",
    )

    @app.get("/health", summary="Liveness and readiness")
    async def health() -> JSONResponse:
        if model is None:
            return JSONResponse({"status": "unavailable", "ready": False, "error": load_error}, status_code=503)
        return JSONResponse(
            {
                "status": "ok",
                "ready": True,
                "model": {"name": model.name, "version": model.version, "checksum": model.checksum},
            }
        )

    @app.get("/v1/model", summary="The model's public description", response_model=None)
    async def describe() -> dict[str, Any]:
        active = ready()
        manifest = active.manifest
        return {
            "name": active.name,
            "version": active.version,
            "created": manifest.get("created"),
            "source": manifest.get("source"),
            "checksum": active.checksum,
            "threshold": active.threshold,
            "inputs": {
                "numeric": list(active.pipeline.imputation),
                "categorical": {name: v.categories for name, v in active.pipeline.vocabularies.items()},
            },
            "metrics": manifest.get("metrics", {}),
        }

    # Register the schemas the hand-written bodies reference, when the docs are first asked for.
    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original_openapi()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Customer"] = customer_adapter.json_schema(ref_template=REF_TEMPLATE)
            _, responses = models_json_schema(
                [(PredictResponse, "serialization"), (LegacyResponse, "serialization")], ref_template=REF_TEMPLATE
            )
            components.update(responses["$defs"])
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


class StageRootPath:
    """Serves the app under an API Gateway stage (`/Prod/docs`) by setting the ASGI root_path."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        event = scope.get("aws.event")
        if scope["type"] == "http" and event:
            context = event.get("requestContext") or {}
            stage = context.get("stage")
            full_path = context.get("path") or (context.get("http") or {}).get("path") or ""
            if stage and stage != "$default" and full_path.startswith(f"/{stage}/"):
                scope["root_path"] = f"/{stage}"
                if not scope["path"].startswith(f"/{stage}/"):
                    scope["path"] = f"/{stage}{scope['path']}"
        await self.app(scope, receive, send)


class Observe:
    """Request id, x-request-id header, the latency metric, and a log line for refused or failed requests.

    API Gateway's access log (template.yaml) has a line for every request, including those
    refused before they reach the function; a line here for each success would repeat it at
    a tenth of a one-customer request's time, so successes are logged at DEBUG only.
    Plain ASGI rather than `@app.middleware`: Starlette's BaseHTTPMiddleware costs a task
    group per request.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _scope_request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:  # already answered by the app's Exception handler
            logger.exception("unhandled error", extra={"request_id": request_id, "path": scope["path"]})
        elapsed = round((time.perf_counter() - start) * 1000, 3)
        metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=elapsed)
        log = logger.info if status >= 400 else logger.debug
        log(
            "request",
            extra={
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "latency_ms": elapsed,
            },
        )


def wrap(app: FastAPI) -> Any:
    """The ASGI application as served: stage-aware paths, then observation, then the app."""
    return StageRootPath(Observe(app))


class UnsupportedEvent(ValueError):
    """An invocation that is not an HTTP request: a misrouted trigger, or a test event."""


class HttpAdapter(Mangum):
    """Mangum, answering what it cannot turn into a request: an event that is not HTTP raises
    UnsupportedEvent saying where it belongs; an HTTP event with malformed fields, which API
    Gateway never sends (a body that is not text, bad base64, null where an object belongs),
    gets a 400 in the error shape of every other malformed input."""

    def infer(self, event: Any, context: Any) -> Any:
        if not isinstance(event, dict):
            shape = f"a JSON {type(event).__name__}, not an object"
        elif not event:
            shape = "an empty object"
        else:
            try:
                return super().infer(event, context)
            except RuntimeError:  # Mangum's "unable to infer a handler"
                shape = f"keys: {', '.join(sorted(map(str, event))[:6])}"
            except MALFORMED_EVENT_ERRORS as error:
                raise MalformedEvent(f"the event's fields are malformed ({error})") from None
        raise UnsupportedEvent(
            f"not an HTTP event ({shape}): this function serves API Gateway REST and HTTP "
            "APIs, function URLs and ALB; S3 notifications go to the batch function (lambda_function.batch.handler)"
        )

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        problem = event_problem(event) if isinstance(event, dict) else None
        if problem is not None:
            return malformed_event_response(event, problem)
        try:
            handler = self.infer(event, context)
            scope, body = handler.scope, handler.body
        except UnsupportedEvent:
            raise
        except MalformedEvent as error:
            return malformed_event_response(event, str(error))
        except MALFORMED_EVENT_ERRORS as error:
            return malformed_event_response(event, f"the event's fields are malformed ({error})")
        response = HTTPCycle(scope, body)(self.app)  # Mangum's own cycle; the lifespan is off
        return dict(handler(response))


_OBJECT_FIELDS = ("headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters")
_TEXT_FIELDS = ("rawPath", "rawQueryString", "path", "httpMethod")


def event_problem(event: dict[str, Any]) -> str | None:
    """What is wrong with an HTTP event's fields, in the event's own terms; None if nothing known is."""
    body = event.get("body")
    if body is not None and not isinstance(body, str):
        return f"body must be a string or null, not a JSON {type(body).__name__}"
    if body and event.get("isBase64Encoded"):
        try:
            base64.b64decode(body)  # as Mangum decodes it
        except binascii.Error as error:
            return f"body is marked isBase64Encoded but is not base64: {error}"
    if event.get("version") == "2.0" and not isinstance(event.get("headers"), dict):
        return "headers must be an object in a version 2.0 event"
    for name in _OBJECT_FIELDS:
        if event.get(name) is not None and not isinstance(event[name], dict):
            return f"{name} must be an object or null"
    for name in _TEXT_FIELDS:
        if name in event and not isinstance(event[name], str):
            return f"{name} must be a string"
    if not isinstance(event.get("requestContext", {}), dict):
        return "requestContext must be an object"
    return None


class MalformedEvent(ValueError):
    """An HTTP event whose fields Mangum cannot read."""


MALFORMED_EVENT_ERRORS = (TypeError, AttributeError, KeyError, ValueError, binascii.Error)


def malformed_event_response(event: dict[str, Any], message: str) -> dict[str, Any]:
    count_rejection("malformed_event")
    context = event.get("requestContext") if isinstance(event.get("requestContext"), dict) else {}
    request_id = str((context or {}).get("requestId") or uuid.uuid4())
    logger.info("malformed event", extra={"request_id": request_id, "detail": message})
    body = {"error": "malformed_event", "message": message, "request_id": request_id}
    response: dict[str, Any] = {
        "statusCode": 400,
        "headers": {"content-type": "application/json", "x-request-id": request_id},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }
    if isinstance(event.get("multiValueHeaders"), dict):  # REST APIs and ALB's multi-value mode
        response["multiValueHeaders"] = {name: [value] for name, value in response["headers"].items()}
    return response


def _load() -> tuple[Model | None, str | None]:
    try:
        loaded = Model(
            SETTINGS.model_uri, cache_dir=SETTINGS.model_cache_dir, threshold=SETTINGS.decision_threshold
        ).load()
    except Exception as error:  # reported by /health and every request, not a crash loop
        logger.exception("model failed to load", extra={"model_uri": SETTINGS.model_uri})
        return None, str(error)
    logger.info("model loaded", extra={"model": loaded.name, "version": loaded.version, "checksum": loaded.checksum})
    return loaded, None


SETTINGS = Settings.from_env()
MODEL, LOAD_ERROR = _load()
app = create_app(MODEL, SETTINGS, LOAD_ERROR)
asgi_app = wrap(app)
_adapter = HttpAdapter(asgi_app, lifespan="off")
# Garbage collection, tuned for a process that imports once and then serves requests:
# - everything built so far lives as long as the container; frozen, it stays out of full
#   passes, which otherwise walk some 150,000 import-time objects (measured: the slowest of
#   120 1000-customer requests fell from 200 ms to 27 ms);
# - a request allocates tens of thousands of short-lived dicts and lists that reference
#   counting frees; young-generation passes every 700 of them found nothing to collect but
#   took 3 of a 1000-customer request's 20 ms. Every 50,000 instead.
gc.freeze()
gc.set_threshold(50_000, 20, 100)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _adapter(event, context)
