"""The handlers as production builds them, for the tests: the same factories, once per session.

lambda_function/handlers/ builds each function's handler at import (and the HTTP one tunes the
garbage collector for a serving process); the tests build theirs here with the very same
factories (`HttpHandler`, `batch_handler`) and the same `load_for_handler`, without importing
handlers/, so nothing a handler module does at import leaks into the test session.
tests/api/test_api.py checks handlers/api.py itself, in a process of its own.
"""

from __future__ import annotations

from types import SimpleNamespace

from lambda_function.api.adapter import UnsupportedEvent
from lambda_function.api.app import HttpHandler, RequestRoute, create_app, wrap
from lambda_function.batch.scorer import BatchScorer, S3Object, batch_handler
from lambda_function.core.scoring import Loaded, Model, load_for_handler
from lambda_function.settings import Settings
from lambda_function.telemetry import logger

LOADED = load_for_handler()  # the suite's synthetic model: MODEL_URI, set by conftest.py
HTTP = HttpHandler(LOADED)

api = SimpleNamespace(
    handler=HTTP.handler,
    app=HTTP.app,
    asgi_app=HTTP.asgi_app,
    MODEL=LOADED.model,
    SETTINGS=LOADED.settings,
    create_app=create_app,
    wrap=wrap,
    RequestRoute=RequestRoute,
    UnsupportedEvent=UnsupportedEvent,
    logger=logger,
)
batch = SimpleNamespace(handler=batch_handler(LOADED), BatchScorer=BatchScorer, S3Object=S3Object)


def http_handler(model: Model, settings: Settings) -> HttpHandler:
    """The HTTP function for another model or settings, built as handlers/api.py builds it."""
    return HttpHandler(Loaded(settings, model))
