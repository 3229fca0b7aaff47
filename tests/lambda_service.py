"""Lambda's Invoke API in front of the functions' runtimes, for Step Functions and the deploy hook.

moto's Step Functions, in its state-machine-executing mode, runs a definition with the ASL
interpreter it vendors from LocalStack. Its tasks call AWS services at
`http://localhost:$MOTO_PORT`, as boto3 clients: S3 (the ItemReader, the ResultWriter) and
Lambda's Invoke API; the deploy hook calls Invoke with boto3 too (AWS_ENDPOINT_URL_LAMBDA). moto's
own Lambda cannot run this project's image without Docker, so those endpoints point at
`lambda_service`, an HTTP server that stands in for Lambda's front end only: it routes
`POST /2015-03-31/functions/{name}/invocations` by function name (an ARN or `name:qualifier`
too) to a runtime of that function (tests/runtimes.py: AWS's runtime interface client behind
AWS's Runtime Interface Emulator, from the image folder), and forwards every other request, byte
for byte, to moto's server. No handler runs in the test process: the event is the bytes the
caller sent, the answer the bytes the runtime client serialised. What the router adds is what
Lambda's service adds and the emulator does not: `X-Amz-Function-Error: Unhandled` when the
runtime reports an exception or a timeout, a request id header, and the fault injection
(throttles, service errors, delays) of the tests. One invocation at a time per function, as in
one execution environment.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from helpers import _Forward

from amex_scoring.lambda_runtime import Invocation


class ServiceError(Exception):
    """Raised by a fault hook: Lambda itself refuses the invocation (the task sees Lambda.<code>)."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status, self.code = status, code


class Function(Protocol):
    """A runtime of one function (amex_scoring.lambda_runtime), or SAM's start-lambda for one."""

    def invoke(self, event: Any) -> Invocation: ...


class LambdaService:
    """The runtimes by function name, and what was asked of them."""

    def __init__(self, functions: dict[str, Function]) -> None:
        self.functions = functions
        self.faults: dict[str, Callable[[dict[str, Any]], None]] = {}  # name -> hook that may raise
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.codedeploy: list[dict[str, Any]] = []  # PutLifecycleEventHookExecutionStatus requests received
        self.port = 0  # where lambda_service serves it

    def invoke(self, name: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """A fault hook may raise ServiceError (Lambda refuses) or anything else (the function fails)."""
        event = json.loads(body or b"{}")
        self.calls.append((name, event))
        try:
            if name in self.faults:
                self.faults[name](event)
        except ServiceError as error:
            answer = json.dumps({"Type": "Service", "message": f"emulated {error.code}"}).encode()
            return error.status, {"x-amzn-ErrorType": error.code}, answer
        except Exception as error:  # as the runtime reports an unhandled exception
            report = {"errorType": type(error).__name__, "errorMessage": str(error), "stackTrace": []}
            return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(report).encode()
        invocation = self.functions[name].invoke(body or b"{}")
        if invocation.error is not None:
            return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(invocation.error).encode()
        return 200, {}, invocation.payload


def _invocation(path: str) -> str | None:
    parts = path.split("/")
    if len(parts) >= 5 and parts[1] == "2015-03-31" and parts[2] == "functions" and parts[4].startswith("invocations"):
        name = urllib.parse.unquote(parts[3])  # a name, `name:qualifier`, or an ARN
        if name.startswith("arn:"):  # arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]
            name = ":".join(name.split(":")[6:])
        return name
    return None


@contextmanager
def lambda_service(service: LambdaService, moto_endpoint: str, host: str = "127.0.0.1") -> Iterator[int]:
    """Serve Invoke for `service` and forward the rest to moto; yields the port to put in MOTO_PORT."""
    parts = urllib.parse.urlsplit(moto_endpoint)

    class Handler(_Forward):
        upstream = (str(parts.hostname), int(parts.port or 80))
        hooks: list[Callable[[], None]] = []

        def do_POST(self) -> None:
            if self.headers.get("X-Amz-Target", "").startswith("CodeDeploy_"):  # a stand-in that records
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                service.codedeploy.append({"action": self.headers["X-Amz-Target"].split(".")[-1], **request})
                answer = json.dumps({"lifecycleEventHookExecutionId": request.get("lifecycleEventHookExecutionId")})
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer.encode())
                return None
            name = _invocation(self.path)
            if name is None:
                return self._forward()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, answer = service.invoke(name, body)
            self.send_response(status)
            request_id = str(uuid.uuid4())  # Lambda's answers, errors too, carry one
            for key, value in {**headers, "Content-Type": "application/json", "x-amzn-RequestId": request_id}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            try:
                self.wfile.write(answer)
            except BrokenPipeError:  # the caller gave up waiting (the timeout tests)
                pass

    server = http.server.ThreadingHTTPServer((host, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
