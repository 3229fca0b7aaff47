"""The template's functions, each in its own process as Lambda runs it, for the tests.

`Runtimes` starts a function of template.yaml under AWS's runtime interface client behind AWS's
Runtime Interface Emulator, from the image folder (amex_scoring/lambda_runtime.py says what is
AWS's code there and what stands in), with the template's handler, timeout, memory and
environment, and this test session's S3 endpoint (moto's server) and credentials. Every runtime
started is stopped when the fixture ends; its log (the emulator's START/END/REPORT lines, the
function's JSON logs and EMF metrics) stays in a file the tests read.
"""

from __future__ import annotations

from pathlib import Path

from amex_scoring.image import ImageFolder
from amex_scoring.lambda_runtime import FunctionSpec, LambdaRuntime, template_functions


class Runtimes:
    def __init__(self, image: ImageFolder, folder: Path, environment: dict[str, str]) -> None:
        self.image, self.folder, self.environment = image, folder, environment
        self.functions: dict[str, FunctionSpec] = template_functions()
        self.started: list[LambdaRuntime] = []

    def start(
        self, function: str, *, timeout: int = 0, parameters: dict[str, str] | None = None, **environment: str
    ) -> LambdaRuntime:
        """`function` is the template's logical id, configured as CloudFormation would for these
        template `parameters`; `environment` adds to (or replaces) what the template sets."""
        spec = template_functions(parameters)[function] if parameters else self.functions[function]
        log = self.folder / f"{function}-{len(self.started)}.log"
        # Capture off unless a test turns it on: the template points it at resources that are not here.
        off = dict.fromkeys(("CAPTURE_URI", "MONITORING_URI"), "")
        runtime = LambdaRuntime(spec, self.image, {**off, **self.environment, **environment}, log, timeout=timeout)
        self.started.append(runtime.start())
        return runtime

    def close(self) -> None:
        for runtime in self.started:
            runtime.stop()
        self.started.clear()
