"""The Lambda side of the HTTP function: API Gateway, function URL and ALB events in, through Mangum.

Mangum turns each event into an ASGI request; this adapter refuses, in words, what it cannot
turn: an event that is not HTTP at all, and HTTP events with malformed fields.
"""

from __future__ import annotations

import binascii
import json
import uuid
from typing import Any

import pybase64
from mangum import Mangum
from mangum.protocols import HTTPCycle
from mangum.types import LambdaContext, LambdaEvent, LambdaHandler

from lambda_function.telemetry import count_rejection, logger


class UnsupportedEvent(ValueError):
    """An invocation that is not an HTTP request: a misrouted trigger, or a test event."""


class HttpAdapter(Mangum):
    """Mangum, answering what it cannot turn into a request: an event that is not HTTP raises
    UnsupportedEvent saying where it belongs; an HTTP event with malformed fields, which API
    Gateway never sends (a body that is not text, bad base64, null where an object belongs),
    gets a 400 in the error shape of every other malformed input."""

    def infer(self, event: LambdaEvent, context: LambdaContext) -> LambdaHandler:
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
            "APIs, function URLs and ALB; S3 notifications go to the batch function "
            "(lambda_function.handlers.batch.handler)"
        )

    def __call__(self, event: LambdaEvent, context: LambdaContext) -> dict[str, Any]:
        problem = event_problem(event) if isinstance(event, dict) else None
        if problem is not None:
            return malformed_event_response(event, problem)
        try:
            handler = self.infer(event, context)
            scope, body = handler.scope, request_body(handler, event)
        except UnsupportedEvent:
            raise
        except MalformedEvent as error:
            return malformed_event_response(event, str(error))
        except binascii.Error as error:  # Mangum decodes a base64 body once, here: not decoded twice
            return malformed_event_response(event, f"body is marked isBase64Encoded but is not base64: {error}")
        except MALFORMED_EVENT_ERRORS as error:
            return malformed_event_response(event, f"the event's fields are malformed ({error})")
        response = HTTPCycle(scope, body)(self.app)  # Mangum's own cycle; the lifespan is off
        return dict(handler(response))


def request_body(handler: LambdaHandler, event: LambdaEvent) -> bytes:
    """The request's bytes. A base64 body is decoded by pybase64, not by Mangum's binascii call:
    binary V2 tensors make megabytes of base64, which its SIMD decoder reads many times faster
    (`make bench` shows by how much), and strictly: a character outside the alphabet is an error,
    where binascii would skip it."""
    if event.get("isBase64Encoded") and isinstance(event.get("body"), str):
        return pybase64.b64decode(event["body"], validate=True)
    return handler.body


_OBJECT_FIELDS = ("headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters")
_TEXT_FIELDS = ("rawPath", "rawQueryString", "path", "httpMethod")


def event_problem(event: dict[str, Any]) -> str | None:
    """What is wrong with an HTTP event's fields, in the event's own terms; None if nothing known is."""
    body = event.get("body")
    if body is not None and not isinstance(body, str):
        return f"body must be a string or null, not a JSON {type(body).__name__}"
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
