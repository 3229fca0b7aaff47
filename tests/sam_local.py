"""SAM CLI itself, for tests/platform/test_sam.py: `sam build`, `sam local invoke`, `start-api`, `start-lambda`.

Everything here is AWS's own tooling on a real Docker engine: SAM CLI (in .venv/sam) builds the
project's Dockerfile and runs each function in a container of that image, behind the Runtime
Interface Emulator SAM puts in front of it. What stands in: moto's server for S3 and Step
Functions (listening on the engine's bridge gateway, which is how a container reaches this
machine), and, where no registry can be reached, a stand-in base image (.ci/lambda-base-image).

Without a reachable engine the tests skip with one line; with CI=true that is a failure instead.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT

SAM = ROOT / ".venv" / "sam" / "bin" / "sam"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def engine_api(path: str, method: str = "GET") -> Any:
    """The Docker engine's API (over a unix socket: where dockerd listens by default)."""
    connection = _UnixConnection(urllib.parse.urlsplit(docker_host()).path)
    connection.request(method, path)
    answer = connection.getresponse()
    body = answer.read()
    if answer.status >= 300:
        raise OSError(f"{path}: {answer.status} {body[:200]!r}")
    return json.loads(body) if body[:1] in (b"{", b"[") else body.decode()


def require_engine() -> str:
    """The bridge gateway's address (where containers reach this machine); skips without an engine."""
    try:
        [config] = engine_api("/networks/bridge")["IPAM"]["Config"]
        # The bridge's own address; engines that do not name it use the subnet's first host.
        return str(config.get("Gateway") or next(ipaddress.ip_network(config["Subnet"]).hosts()))
    except (OSError, KeyError, IndexError, ValueError) as error:
        reason = f"no Docker engine at {docker_host()} ({error}): the SAM tests need one (.ci/docker-engine)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the SAM tests, but {reason}")
        pytest.skip(reason)


def sam_environment(home: Path) -> dict[str, str]:
    """What `sam` runs with: the engine, no telemetry, a home of its own, local credentials
    (SAM hands them to the containers, where moto accepts any)."""
    # Not the session's MODEL_URI (a path on this machine, conftest.py's): SAM fills a function's
    # declared variables from the shell too, and the containers would look for it there.
    return {
        **{name: value for name, value in os.environ.items() if name != "MODEL_URI"},
        "DOCKER_HOST": docker_host(),
        "SAM_CLI_TELEMETRY": "0",
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }


def sam(
    args: list[str], environment: dict[str, str], timeout: float = 600, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SAM), *args], capture_output=True, text=True, cwd=cwd, env=environment, timeout=timeout)


def project_with_model(model: Path, target: Path) -> Path:
    """What `sam build` reads (the template, the Dockerfile and its context), with `model` as
    `model/`: the image the tests build carries the suite's model, whatever `model/` holds."""
    for name in ("template.yaml", "Dockerfile", ".dockerignore", "requirements/runtime.txt"):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, target / name)
    for folder in ("lambda_function", "statemachine"):
        shutil.copytree(ROOT / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(model, target / "model")
    return target


def last_json(stdout: str) -> Any:
    """`sam local invoke` prints the function's answer last, on stdout (its logs go to stderr)."""
    return json.loads(stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def sam_server(command: str, args: list[str], environment: dict[str, str], ready_path: str) -> Iterator[str]:
    """`sam local start-api` or `start-lambda` on a free port of 127.0.0.1, until the block ends;
    then stopped, and the containers it leaves behind removed."""
    port = _free_port()
    log = Path(environment["HOME"]) / f"{command}.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(SAM), "local", command, "--host", "127.0.0.1", "--port", str(port), *args],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    before = {c["Id"] for c in engine_api("/containers/json?all=1")}
    try:
        _wait_until_serving(url + ready_path, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        for container in engine_api("/containers/json?all=1"):  # start-api's warm containers outlive it
            if container["Id"] not in before:
                engine_api(f"/containers/{container['Id']}?force=1", "DELETE")


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sam exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            parts = urllib.parse.urlsplit(url)
            connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
            connection.request("GET", parts.path)
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"sam did not serve {url} within {seconds} s:\n{log.read_text()[-3000:]}")
