"""Step Functions with real Lambda handlers, for the dataset job's tests.

moto's Step Functions, in its state-machine-executing mode, runs a definition with the ASL
interpreter it vendors from LocalStack. Its tasks call AWS services at
`http://localhost:$MOTO_PORT`, as boto3 clients: S3 (the ItemReader, the ResultWriter) and
Lambda's Invoke API. moto's own Lambda cannot run this project's image without Docker, so
MOTO_PORT points at `LambdaService`, an HTTP server that answers Invoke
(`POST /2015-03-31/functions/{name}/invocations`) by calling this project's handler for that
name, as the Lambda runtime does (JSON event in, JSON result out; an exception becomes a 200
with `X-Amz-Function-Error: Unhandled` and `{"errorType", "errorMessage"}`), and forwards
every other request, byte for byte, to moto's server. So the definition file the template
deploys is executed by a real interpreter, over HTTP, against moto's S3, with the handlers'
own code; what is not Lambda's is only the process they run in. One invocation at a time
per function, as in one Lambda execution environment.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from helpers import _Forward

Handler = Callable[[dict[str, Any], Any], Any]


class ServiceError(Exception):
    """Raised by a fault hook: Lambda itself refuses the invocation (the task sees Lambda.<code>)."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status, self.code = status, code


class _Context:
    function_name = "emulated"
    memory_limit_in_mb = 4096
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:emulated"
    aws_request_id = "emulated-request"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


class LambdaService:
    """The handlers by function name, and what was asked of them."""

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self.handlers = handlers
        self.faults: dict[str, Callable[[dict[str, Any]], None]] = {}  # name -> hook that may raise
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.codedeploy: list[dict[str, Any]] = []  # PutLifecycleEventHookExecutionStatus requests received
        self._locks = {name: threading.Lock() for name in handlers}

    def invoke(self, name: str, event: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        """A fault hook may raise ServiceError (Lambda refuses) or anything else (the function fails)."""
        self.calls.append((name, event))
        with self._locks[name]:
            _event_loop_for_this_thread()  # Mangum asks for one, as the runtime's main thread has
            try:
                if name in self.faults:
                    self.faults[name](event)
                result = self.handlers[name](event, _Context())
            except ServiceError as error:
                body = json.dumps({"Type": "Service", "message": f"emulated {error.code}"}).encode()
                return error.status, {"x-amzn-ErrorType": error.code}, body
            except Exception as error:  # what the Lambda runtime reports for an unhandled exception
                report = {"errorType": type(error).__name__, "errorMessage": str(error), "stackTrace": []}
                return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(report).encode()
        return 200, {}, json.dumps(result).encode()


def _event_loop_for_this_thread() -> None:
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def _invocation(path: str) -> str | None:
    parts = path.split("/")
    if len(parts) >= 5 and parts[1] == "2015-03-31" and parts[2] == "functions" and parts[4].startswith("invocations"):
        name = urllib.parse.unquote(parts[3])  # a name, `name:qualifier`, or an ARN
        if name.startswith("arn:"):  # arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]
            name = ":".join(name.split(":")[6:])
        return name
    return None


@contextmanager
def lambda_service(service: LambdaService, moto_endpoint: str) -> Iterator[int]:
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
            status, headers, answer = service.invoke(name, json.loads(body or b"{}"))
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

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
