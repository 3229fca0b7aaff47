"""ASGI middleware around the app: API Gateway stages, request ids, latency, request logs."""

from __future__ import annotations

import time
import uuid

from mangum.types import ASGI, Message, Receive, Scope, Send

from lambda_function.telemetry import MetricUnit, logger, metrics


def _scope_request_id(scope: Scope) -> str:
    context = scope.get("aws.context")
    if context is not None and getattr(context, "aws_request_id", None):
        return str(context.aws_request_id)
    event = scope.get("aws.event") or {}
    return str((event.get("requestContext") or {}).get("requestId") or uuid.uuid4())


class StageRootPath:
    """Serves the app under an API Gateway stage (`/Prod/docs`) by setting the ASGI root_path."""

    def __init__(self, app: ASGI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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

    def __init__(self, app: ASGI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _scope_request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
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


def wrap(app: ASGI) -> ASGI:
    """The ASGI application as served: stage-aware paths, then observation, then the app."""
    return StageRootPath(Observe(app))
