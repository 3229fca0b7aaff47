"""A function of template.yaml as Lambda runs it, without Docker.

AWS's own code does the work: the Runtime Interface Emulator (`aws-lambda-rie`, the binary SAM CLI
ships and starts inside every `sam local` container) serves Lambda's Invoke API and its Runtime
API, and AWS's runtime interface client (`awslambdaric`, what the Python base image runs) polls
it, imports the handler the template names, builds the context (request id, function name,
memory, the deadline from the function's timeout), calls the handler, and serialises its return
value or its exception. What stands in for the image is `ImageFolder`: the image's Python with
the Dockerfile's folders and ENV (amex_scoring/image.py). The template's settings (handler,
timeout, memory, environment) are read from template.yaml, parameters at their defaults.

Used by the tests (every handler, every event) and by `make bench` (cold start and warm duration
as the emulator reports them).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .image import DOCKERFILE, ROOT, ImageFolder, image_environment, runtime_emulator

TEMPLATE = ROOT / "template.yaml"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
TIMED_OUT = re.compile(r"^Task timed out after [\d.]+ seconds$")
REPORT = re.compile(r"^REPORT RequestId: (\S+)\t(.*)$")
# The emulator's own line for the init phase: its REPORT line's "Init Duration" is not the init's.
INIT_REPORT = re.compile(r"INIT REPORT\(durationMs: ([\d.]+)\)")


@dataclass(frozen=True)
class FunctionSpec:
    """What the template says of one function."""

    name: str  # the logical id
    handler: str
    timeout: int
    memory: int
    environment: dict[str, str]  # what resolves from parameters alone; the rest is the caller's
    unresolved: tuple[str, ...] = ()  # variables that name other resources (a version, the bucket)


def template_functions(parameters: dict[str, str] | None = None, template: Path = TEMPLATE) -> dict[str, FunctionSpec]:
    """Every AWS::Serverless::Function, as CloudFormation would configure it for these parameters
    (the others at their defaults): Globals first, then the function's own properties."""
    from cfnlint.decode import cfn_yaml

    document = cfn_yaml.load(str(template))
    resolver = _Resolver(document, parameters or {})
    defaults = document.get("Globals", {}).get("Function", {})
    command = json.loads(re.search(r"^CMD (.+)$", DOCKERFILE.read_text(), re.MULTILINE).group(1))[0]  # type: ignore[union-attr]
    functions = {}
    for name, resource in document["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = {**defaults, **resource["Properties"]}
        variables = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **resource["Properties"].get("Environment", {}).get("Variables", {}),
        }
        environment, unresolved = {}, []
        for variable, value in variables.items():
            resolved = resolver.value(value)
            if resolved is _UNRESOLVED:
                unresolved.append(variable)
            elif resolved is not _NO_VALUE:
                environment[variable] = str(resolved)
        functions[name] = FunctionSpec(
            name=name,
            handler=properties.get("ImageConfig", {}).get("Command", [command])[0],
            timeout=int(resolver.value(properties.get("Timeout", 3))),
            memory=int(resolver.value(properties.get("MemorySize", 128))),
            environment=environment,
            unresolved=tuple(unresolved),
        )
    return functions


_NO_VALUE, _UNRESOLVED = object(), object()


class _Resolver:
    """The intrinsic functions a function's settings use here: Ref to a parameter, Fn::If on a
    condition made of Fn::Equals / Fn::Not / Fn::And / Fn::Or of parameters, AWS::NoValue."""

    def __init__(self, document: dict[str, Any], parameters: dict[str, str]) -> None:
        declared = document.get("Parameters", {})
        self.parameters = {name: str(spec.get("Default", "")) for name, spec in declared.items()}
        unknown = set(parameters) - set(declared)
        if unknown:
            raise ValueError(f"not parameters of the template: {sorted(unknown)}")
        self.parameters.update(parameters)
        self.conditions = document.get("Conditions", {})

    def value(self, node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        [(function, argument)] = node.items()
        if function == "Ref":
            if argument == "AWS::NoValue":
                return _NO_VALUE
            return self.parameters.get(argument, _UNRESOLVED)
        if function == "Fn::If":
            condition, if_true, if_false = argument
            return self.value(if_true if self.condition(condition) else if_false)
        return _UNRESOLVED

    def condition(self, node: Any) -> bool:
        if isinstance(node, str):
            return self.condition(self.conditions[node])
        [(function, argument)] = node.items()
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::Equals":
            return bool(self.value(argument[0]) == self.value(argument[1]))
        if function == "Fn::Not":
            return not self.condition(argument[0])
        if function == "Fn::And":
            return all(self.condition(item) for item in argument)
        if function == "Fn::Or":
            return any(self.condition(item) for item in argument)
        raise ValueError(f"condition function not understood: {function}")


@dataclass
class Invocation:
    """One answer of the emulator's Invoke API."""

    status: int
    payload: bytes
    report: dict[str, str] = field(default_factory=dict)  # the REPORT line: Duration, ...; Init when it ran one

    @property
    def error(self) -> dict[str, Any] | None:
        """The runtime's report of an unhandled exception, or of a timeout; None for a result.
        (Lambda's Invoke API says so in X-Amz-Function-Error; the emulator only in the body.)"""
        text = self.payload.decode(errors="replace")
        if TIMED_OUT.match(text):
            return {"errorType": "Sandbox.Timedout", "errorMessage": text}
        try:
            body = json.loads(text)
        except ValueError:
            return None
        if isinstance(body, dict) and {"errorMessage", "errorType", "requestId"} <= set(body):
            return body
        return None

    def json(self) -> Any:
        if self.error is not None:
            raise RuntimeError(f"the function failed: {self.error}")
        return json.loads(self.payload)

    def milliseconds(self, name: str) -> float:
        return float(self.report[name].removesuffix(" ms"))


class LambdaRuntime:
    """One execution environment of one function: the emulator, and the runtime it starts.

    The emulator starts the runtime (the init phase) on the first invocation, and again after a
    timeout or a crash, as Lambda does. One invocation at a time, as in one execution environment.
    """

    def __init__(
        self, spec: FunctionSpec, image: ImageFolder, environment: dict[str, str], log: Path, *, timeout: int = 0
    ) -> None:
        missing = set(spec.unresolved) - set(environment)
        if missing:
            raise ValueError(f"{spec.name}: give {sorted(missing)} (they name other resources)")
        self.spec, self.image, self.log_path = spec, image, log
        self.timeout = timeout or spec.timeout
        self.environment = environment
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._lock = threading.Lock()

    def _process_environment(self) -> dict[str, str]:
        """Lambda's reserved variables, the image's ENV, then the function's (template and caller)."""
        image = self.image
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": str(image.task),
            "LAMBDA_RUNTIME_DIR": str(image.runtime_client),
            # The image has the dependencies in /var/task itself and the client in /var/runtime.
            "PYTHONPATH": f"{image.dependencies}{os.pathsep}{image.runtime_client}",
            "AWS_LAMBDA_FUNCTION_NAME": self.spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(self.timeout),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.spec.memory),
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            **image_environment(),
            **self.spec.environment,
            **self.environment,
        }

    def start(self) -> LambdaRuntime:
        command = [
            str(runtime_emulator()),
            "--runtime-interface-emulator-address",
            f"127.0.0.1:{self.port}",
            "--runtime-api-address",
            f"127.0.0.1:{_free_port()}",
            # -S: the image's interpreter sees the image's folders, not this machine's site-packages
            *(self.image.python, "-S", "-m", "awslambdaric", self.spec.handler),
        ]
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            command, cwd=self.image.task, env=self._process_environment(), stdout=self._log, stderr=subprocess.STDOUT
        )
        _wait_for_port(self.port, self._process)
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> LambdaRuntime:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def invoke(self, event: Any) -> Invocation:
        """POST the event (JSON-serialisable, or bytes as they are) to the Invoke API's path."""
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        url = f"http://127.0.0.1:{self.port}{INVOKE_PATH}"
        with self._lock:
            seen = self.log_path.stat().st_size
            request = urllib.request.Request(url, data=body, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout + 60) as answer:
                    invocation = Invocation(answer.status, answer.read())
            except urllib.error.HTTPError as error:
                invocation = Invocation(error.code, error.read())
            invocation.report = self._report_after(seen)
        return invocation

    def _report_after(self, offset: int) -> dict[str, str]:
        """The REPORT line the emulator prints once the invocation is over (shortly after the answer)."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                text = log.read().decode(errors="replace")
            for line in text.splitlines():
                found = REPORT.match(line)
                if found:
                    pairs = (part.split(": ", 1) for part in found.group(2).split("\t") if ": " in part)
                    report = {"RequestId": found.group(1), **dict(pairs)}
                    init = INIT_REPORT.search(text)
                    return {**report, "Init": f"{init.group(1)} ms"} if init else report
            time.sleep(0.01)
        return {}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the runtime emulator exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"the runtime emulator did not listen on {port} within {seconds} s")
