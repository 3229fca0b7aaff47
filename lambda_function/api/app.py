"""The HTTP function: FastAPI behind Mangum, for API Gateway REST/HTTP APIs and function URLs.

The routes read the request (payload.py) and write what the ScoringService answers; the
OpenAPI description is openapi.py's, the Lambda adapter adapter.py's, the middleware
middleware.py's. `HttpHandler` puts them together for a loaded model: handlers/api.py builds
one per container (Mangum runs the ASGI lifespan on every invocation, so it is switched off).
Nothing here imports pyarrow, pandas or scikit-learn.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import pydantic_core
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse as StarletteJSONResponse
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from lambda_function.api import openapi
from lambda_function.api.adapter import HttpAdapter, UnsupportedEvent
from lambda_function.api.middleware import wrap
from lambda_function.api.openapi import (
    HealthResponse,
    LegacyResponse,
    ModelDescription,
    PredictResponse,
    V2InferResponse,
    V2Live,
    V2ModelMetadata,
    V2ModelReady,
    V2Ready,
    V2Server,
)
from lambda_function.api.payload import ParsedBody, RequestError, explain_count, fast_paths, parse_customers, read_body
from lambda_function.api.service import ScoringService
from lambda_function.api.v2 import V2Error, infer_response, parse_infer
from lambda_function.core.scoring import Loaded, Model
from lambda_function.monitoring.recorder import CaptureRecorder, http_capture
from lambda_function.settings import Settings
from lambda_function.telemetry import count_rejection, logger, metrics

__all__ = ["HttpHandler", "create_app", "wrap", "RequestRoute", "UnsupportedEvent"]


class RequestRoute(APIRoute):
    """A route whose endpoint takes the request alone and returns a response.

    FastAPI's own handler resolves dependencies, parameters and response models on every
    request; the scoring endpoints have none, and skipping that machinery shows on
    one-customer requests (docs/benchmarks.md, "What each departure from the idiom buys"). The route is declared
    as any other, so FastAPI's OpenAPI schema still describes it.
    """

    def get_route_handler(self) -> Any:
        dependant = self.dependant
        extra = [*dependant.path_params, *dependant.query_params, *dependant.header_params, *dependant.body_params]
        if extra or dependant.dependencies or dependant.cookie_params or dependant.request_param_name is None:
            raise TypeError(f"{self.path}: a RequestRoute endpoint takes one parameter, the Request")
        return self.endpoint


class JSONResponse(StarletteJSONResponse):
    """Serialised by pydantic-core, several times faster than `json.dumps` on a large answer."""

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content, inf_nan_mode="null")


def _service(request: Request) -> ScoringService:
    return request.app.state.service  # type: ignore[no-any-return]


def _id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


async def _customers(request: Request, *, single: bool) -> ParsedBody:
    settings: Settings = request.app.state.settings
    body = await read_body(request.headers, request.stream(), settings.max_body_bytes)
    inputs, fast = request.app.state.inputs, request.app.state.fast_paths
    return parse_customers(body, inputs, single=single, max_batch=settings.max_batch, fast=fast)


async def predict(request: Request) -> JSONResponse:
    # Most requests have no query string: not building Starlette's QueryParams for them shows
    # on one-customer requests (docs/benchmarks.md, "What each departure from the idiom buys").
    explain = explain_count(request.query_params.get("explain")) if request.scope.get("query_string") else 0
    return JSONResponse(_service(request).predict(await _customers(request, single=False), explain, _id(request)))


async def legacy_predict(request: Request) -> JSONResponse:
    return JSONResponse(
        _service(request).legacy(await _customers(request, single=True), _id(request)),
        headers={"Deprecation": "true", "Link": '</v1/predict>; rel="successor-version"'},
    )


async def health(request: Request) -> JSONResponse:
    return JSONResponse(_service(request).health())


async def describe(request: Request) -> JSONResponse:
    return JSONResponse(_service(request).describe())


# -- Open Inference Protocol (KServe V2): v2.py decodes and encodes, the service scores ------


def _v2_path(request: Request) -> tuple[str, str | None]:
    return request.path_params["name"], request.path_params.get("version")


async def v2_server(request: Request) -> JSONResponse:
    return JSONResponse({"name": "amex-scoring", "version": request.app.version, "extensions": ["binary_tensor_data"]})


async def v2_live(request: Request) -> JSONResponse:
    return JSONResponse({"live": True})


async def v2_ready(request: Request) -> JSONResponse:
    return JSONResponse({"ready": True})  # a function whose model did not load does not start


async def v2_model(request: Request) -> JSONResponse:
    return JSONResponse(_service(request).v2_metadata(*_v2_path(request)))


async def v2_model_ready(request: Request) -> JSONResponse:
    model = _service(request).v2_model(*_v2_path(request))
    return JSONResponse({"name": model.name, "ready": True})


async def v2_infer(request: Request) -> Response:
    service, settings = _service(request), request.app.state.settings
    model = service.v2_model(*_v2_path(request))
    try:
        body = await read_body(request.headers, request.stream(), settings.max_body_bytes, binary=True)
    except RequestError as error:
        raise V2Error(error.status, error.message) from None
    numeric = model.pipeline.imputation  # the numeric inputs' names, by their medians
    parsed = parse_infer(body, request.headers, model.inputs, numeric, settings.max_batch)
    try:
        answers = service.v2_infer(parsed, _id(request))
    except RequestError as error:  # the answer would be over the response limit
        raise V2Error(error.status, error.message) from None
    content, headers = infer_response(parsed, answers, model.name, model.version)
    return Response(content, headers=headers)


async def v2_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, V2Error)
    count_rejection(f"v2_{error.status}")
    return JSONResponse({"error": error.message}, status_code=error.status)


async def internal_error(request: Request, error: Exception) -> JSONResponse:
    """A bug, never an input: answer without a stack trace (the middleware logs it)."""
    request_id = getattr(request.state, "request_id", None)
    return JSONResponse(
        {"error": "internal_error", "message": "internal error", "request_id": request_id}, status_code=500
    )


async def request_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestError)
    count_rejection(error.error)
    body: dict[str, Any] = {
        "error": error.error,
        "message": error.message,
        "request_id": getattr(request.state, "request_id", None),
    }
    if error.detail is not None:
        body["detail"] = error.detail
    return JSONResponse(body, status_code=error.status)


async def routing_error(request: Request, error: Exception) -> JSONResponse:
    """Unknown paths and methods answer in the same shape as every other error."""
    assert isinstance(error, HTTPException)
    kind, message = {
        404: ("not_found", f"no endpoint at {request.url.path}: see /docs"),
        405: ("method_not_allowed", f"{request.method} is not allowed on {request.url.path}"),
    }.get(error.status_code, ("http_error", str(error.detail)))
    response = await request_error(request, RequestError(error.status_code, kind, message))
    response.headers.update(error.headers or {})  # 405's Allow
    return response


BODY_ERRORS = (400, 413, 415, 422)  # what a scoring endpoint answers besides its 200


def create_app(model: Model, settings: Settings, capture: CaptureRecorder | None = None) -> FastAPI:
    app = FastAPI(
        title="AmEx default scoring",
        version=model.version,
        description="Probability that a card customer defaults, from their latest monthly statement. "
        "Send the statement fields of the AmEx layout; missing fields are imputed as in training.",
    )
    app.state.service = ScoringService(model, capture)
    app.state.settings = settings
    app.state.inputs = model.inputs
    app.state.fast_paths = fast_paths(model.inputs)
    app.add_exception_handler(Exception, internal_error)
    app.add_exception_handler(RequestError, request_error)
    app.add_exception_handler(HTTPException, routing_error)
    app.add_exception_handler(V2Error, v2_error)
    example = openapi.example_customer(model)
    route = app.router.add_api_route
    route(
        "/v1/predict",
        predict,
        methods=["POST"],
        route_class_override=RequestRoute,
        summary="Score one customer or a batch; the latest statement (S_2) of each customer is scored",
        description=openapi.COMPRESSION,
        openapi_extra={
            "requestBody": openapi.predict_body(example, settings.max_batch),
            "parameters": [openapi.EXPLAIN_PARAMETER],
        },
        responses=openapi.responses(PredictResponse, "one prediction per customer, in request order", *BODY_ERRORS),
    )
    # Starlette tries the routes in this order, and each it passes costs a match: the scoring
    # routes, which carry the traffic, come first.
    _v2_routes(app, model)
    route(
        "/predict",
        legacy_predict,
        methods=["POST"],
        route_class_override=RequestRoute,
        summary="The original Flask service's contract (one customer); use /v1/predict",
        deprecated=True,
        openapi_extra={"requestBody": openapi.legacy_body(example)},
        responses=openapi.responses(LegacyResponse, "the original service's answer", *BODY_ERRORS),
    )
    health_responses = openapi.responses(HealthResponse, "ready")
    route("/health", health, methods=["GET"], summary="Liveness and readiness", responses=health_responses)
    route(
        "/v1/model",
        describe,
        methods=["GET"],
        summary="The model's public description",
        responses=openapi.responses(ModelDescription, "inputs, categories, threshold, metrics"),
    )
    openapi.install(app)
    return app


def _v2_routes(app: FastAPI, model: Model) -> None:
    route, answers = app.router.add_api_route, openapi.v2_responses
    tags: list[str | Enum] = ["Open Inference Protocol (V2)"]
    bases = ("/v2/models/{name}", "/v2/models/{name}/versions/{version}")
    paths = {base: {"parameters": openapi.v2_path_parameters(base, model)} for base in bases}
    for base in bases:  # the scoring routes first
        route(
            f"{base}/infer",
            v2_infer,
            methods=["POST"],
            route_class_override=RequestRoute,
            summary="Score statements sent as tensors, one input per column (JSON or binary)",
            description=openapi.V2_INFER,
            openapi_extra={"requestBody": openapi.v2_infer_body(), **paths[base]},
            tags=tags,
            responses=answers(V2InferResponse, "one output row per customer", 400, 404, 413, 415, binary=True),
        )
    route("/v2", v2_server, methods=["GET"], summary="Server metadata", tags=tags, responses=answers(V2Server, "ok"))
    route("/v2/health/live", v2_live, methods=["GET"], summary="Liveness", tags=tags, responses=answers(V2Live, "live"))
    ready = answers(V2Ready, "ready")
    route("/v2/health/ready", v2_ready, methods=["GET"], summary="Readiness", tags=tags, responses=ready)
    for base, path in paths.items():
        metadata = answers(V2ModelMetadata, "inputs and outputs", 404)
        route(
            base, v2_model, methods=["GET"], summary="Model metadata", tags=tags, responses=metadata, openapi_extra=path
        )
        model_ready = answers(V2ModelReady, "ready", 404)
        route(
            f"{base}/ready",
            v2_model_ready,
            methods=["GET"],
            summary="Model readiness",
            tags=tags,
            openapi_extra=path,
            responses=model_ready,
        )


class HttpHandler:
    """The HTTP function's Lambda handler for a loaded model: the app, the ASGI wrapping, Mangum.
    What handlers/api.py serves, and what the tests call: the same object."""

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self.capture = http_capture(loaded)
        self._answered = self.capture.start() if self.capture is not None else None
        self.app = create_app(loaded.model, loaded.settings, self.capture)
        self.asgi_app = wrap(self.app)
        self._adapter = HttpAdapter(self.asgi_app, lifespan="off")
        self.handler = metrics.log_metrics(logger.inject_lambda_context(self._handle, clear_state=True))

    def _handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            return self._adapter(event, context)
        finally:
            if self._answered is not None:
                self._answered()  # the capture's records go out now, after the answer

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self.handler(event, context)
