"""An internal Lambda extension that delivers the HTTP function's capture records after each answer.

Lambda's Extensions API (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html):
an extension registered during init receives each INVOKE event and signals it is done by asking
for the next event. Lambda returns the function's response as soon as the runtime posts it,
and freezes the environment only once every extension is done, so the records are built and
sent after the caller has its answer, and none wait in a frozen buffer. An internal extension
is a thread of the runtime's process: no second process, and the recorder's memory is shared.
Under AWS's emulator (the tests) the same API is served, but the emulator answers the caller
only after the extension too is done.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from typing import Any

from lambda_function.monitoring.recorder import CaptureRecorder
from lambda_function.telemetry import logger

NAME = "capture-delivery"
_API = "/2020-01-01/extension"


class DeliveryExtension:
    """Registered at init; after each invocation's `done()`, flushes the recorder."""

    def __init__(self, recorder: CaptureRecorder, runtime_api: str | None = None) -> None:
        self.recorder = recorder
        self.base = f"http://{runtime_api or os.environ['AWS_LAMBDA_RUNTIME_API']}{_API}"
        self._done = threading.Event()
        self._id = self._register()
        threading.Thread(target=self._loop, name=NAME, daemon=True).start()

    def done(self) -> None:
        """The handler has its answer: deliver this invocation's records."""
        self._done.set()

    def _register(self) -> str:
        request = urllib.request.Request(
            f"{self.base}/register",
            data=json.dumps({"events": ["INVOKE"]}).encode(),
            headers={"Lambda-Extension-Name": NAME},
            method="POST",
        )
        with urllib.request.urlopen(request) as answer:
            return str(answer.headers["Lambda-Extension-Identifier"])

    def _next(self) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.base}/event/next", headers={"Lambda-Extension-Identifier": self._id})
        with urllib.request.urlopen(request) as answer:
            event: dict[str, Any] = json.loads(answer.read())
            return event

    def _loop(self) -> None:
        while True:
            event = self._next()  # returning from here tells Lambda the previous invocation's work is done
            deadline = event.get("deadlineMs", time.time() * 1000 + 900_000) / 1000
            # The handler signals when it has answered; a handler that never does (killed by its
            # timeout) leaves its records for the next invocation's delivery.
            self._done.wait(timeout=max(0.0, deadline - time.time()))
            self._done.clear()
            try:
                self.recorder.flush()
            except Exception:  # never let delivery stop the extension: Lambda would stall
                logger.exception("capture delivery raised")
