"""#30 item 4: what a client sends does not stay in the server's memory after its request. The
HTTP app under uvicorn (`amex-scoring serve`) in a process of its own, with the image's
environment (its malloc tuning included); its resident memory (the kernel's VmRSS) after 50
requests built to be kept (distinct megabyte-long dates and categories, the largest answers)
stays within 50 MB of its memory after the first request. Memory, not time: no timing here."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest
from helpers import SYNTHETIC_MODEL, served

from amex_scoring.image import image_environment

INFER = "/v2/models/amex-default-xgboost/infer"
GOAL_BYTES = 50 * 1024 * 1024


def _rss(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):  # noqa: SIM115 - read at once
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs Linux's /proc to read a process's resident memory")
    with served(SYNTHETIC_MODEL, {**image_environment(), "POWERTOOLS_LOG_LEVEL": "ERROR"}) as found:
        yield found


def _v2(rows: int, **columns: list[object]) -> dict[str, object]:
    inputs = [{"name": "customer_ID", "shape": [rows], "datatype": "BYTES", "data": [f"c{i}" for i in range(rows)]}]
    inputs += [{"name": name, "shape": [rows], "datatype": "BYTES", "data": data} for name, data in columns.items()]
    return {"inputs": inputs}


def _requests() -> Iterator[tuple[str, bytes, int]]:
    """50 requests: distinct 5 MB texts where a date and a category belong (each a 400), and
    the largest answers the limits allow (1000 customers, 20 reasons each)."""
    for n in range(20):
        yield INFER, json.dumps(_v2(1, S_2=[f"{n:03d}" + "x" * 5_000_000])).encode(), 400
    for n in range(20):
        yield INFER, json.dumps(_v2(1, D_63=[f"{n:03d}" + "y" * 5_000_000])).encode(), 400
    for _ in range(5):
        body = {**_v2(1000, D_63=["CO"] * 1000), "parameters": {"reasons": 20}}
        yield INFER, json.dumps(body).encode(), 200
    for _ in range(5):
        customers = [{"customer_ID": f"c{i}", "D_63": "CR", "S_2": "2018-03-01"} for i in range(1000)]
        yield "/v1/predict?explain=20", json.dumps({"customers": customers}).encode(), 200


def test_fifty_requests_built_to_be_kept_leave_the_server_within_50_mb(server: tuple[str, int]) -> None:
    url, pid = server
    with httpx.Client(timeout=60) as client:
        first = client.post(url + "/v1/predict", json={"customer_ID": "a", "D_63": "CO"})
        assert first.status_code == 200
        after_first = _rss(pid)
        for path, body, status in _requests():
            answer = client.post(url + path, content=body, headers={"content-type": "application/json"})
            assert answer.status_code == status, answer.text[:200]
    grown = _rss(pid) - after_first
    print(f"resident: {after_first / 2**20:.0f} MB after the first request, {grown / 2**20:+.1f} MB after 50 more")
    assert grown <= GOAL_BYTES, f"resident memory grew {grown / 2**20:.0f} MB over 50 requests"
