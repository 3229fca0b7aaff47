"""#30 item 4's goal: a server's resident memory after any 50 requests within 50 MB of its memory
after the first. `amex-scoring serve` (uvicorn, a real socket) in a process of its own with the
image's environment (its malloc tuning included), then 50 requests built to be kept: distinct 5 MB
texts where a date and a category belong (each a 400) and the largest answers the limits allow.
The kernel's VmRSS of the server after the first request and after the 50.

tests/api/test_memory.py asserts the goal on the same requests; this reports the figures.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

GOAL_MB = 50


def resident_bytes(pid: int) -> int:
    """The kernel's VmRSS of a process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _v2(rows: int, **columns: list[Any]) -> dict[str, Any]:
    inputs = [{"name": "customer_ID", "shape": [rows], "datatype": "BYTES", "data": [f"c{i}" for i in range(rows)]}]
    inputs += [{"name": name, "shape": [rows], "datatype": "BYTES", "data": data} for name, data in columns.items()]
    return {"inputs": inputs}


def requests_built_to_be_kept(model_name: str) -> Iterator[tuple[str, bytes, int]]:
    """(path, body, expected status) of 50 requests a cache keyed by client input would keep."""
    infer = f"/v2/models/{model_name}/infer"
    for n in range(20):
        yield infer, json.dumps(_v2(1, S_2=[f"{n:03d}" + "x" * 5_000_000])).encode(), 400
    for n in range(20):
        yield infer, json.dumps(_v2(1, D_63=[f"{n:03d}" + "y" * 5_000_000])).encode(), 400
    for _ in range(5):
        yield infer, json.dumps({**_v2(1000, D_63=["CO"] * 1000), "parameters": {"reasons": 20}}).encode(), 200
    customers = [{"customer_ID": f"c{i}", "D_63": "CR", "S_2": "2018-03-01"} for i in range(1000)]
    for _ in range(5):
        yield "/v1/predict?explain=20", json.dumps({"customers": customers}).encode(), 200


def measure(model: Path) -> dict[str, Any]:
    """One server: its resident memory after the first request and after the 50 more."""
    import httpx

    from amex_scoring.image import image_environment

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "amex_scoring.cli", "serve", "--port", str(port), "--model", str(model)]
    environment = {**os.environ, **image_environment(), "POWERTOOLS_LOG_LEVEL": "ERROR"}
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=60) as client:
            for _ in range(300):
                try:
                    client.get(url + "/v2/health/ready")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            assert client.post(url + "/v1/predict", json={"customer_ID": "a", "D_63": "CO"}).status_code == 200
            first = resident_bytes(server.pid)
            name = client.get(url + "/v1/model").json()["name"]
            for path, body, status in requests_built_to_be_kept(name):
                answer = client.post(url + path, content=body, headers={"content-type": "application/json"})
                assert answer.status_code == status, answer.text[:200]
            after = resident_bytes(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return {"first_mb": first / 2**20, "after_mb": after / 2**20, "grown_mb": (after - first) / 2**20}


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1]))))
