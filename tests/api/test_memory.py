"""#30 item 4: what a client sends does not stay in the server's memory after its request. The
HTTP app under uvicorn (`amex-scoring serve`) in a process of its own, with the image's
environment (its malloc tuning included); its resident memory (the kernel's VmRSS) after 50
requests built to be kept (distinct megabyte-long dates and categories, the largest answers:
bench/memory.py, which `make bench` reports) stays within 50 MB of its memory after the first
request. Memory, not time: no timing here."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from helpers import SYNTHETIC_MODEL, served

from amex_scoring.image import image_environment
from bench.memory import GOAL_MB, requests_built_to_be_kept, resident_bytes


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs Linux's /proc to read a process's resident memory")
    with served(SYNTHETIC_MODEL, {**image_environment(), "POWERTOOLS_LOG_LEVEL": "ERROR"}) as found:
        yield found


def test_fifty_requests_built_to_be_kept_leave_the_server_within_50_mb(server: tuple[str, int]) -> None:
    url, pid = server
    with httpx.Client(timeout=60) as client:
        first = client.post(url + "/v1/predict", json={"customer_ID": "a", "D_63": "CO"})
        assert first.status_code == 200
        after_first = resident_bytes(pid)
        for path, body, status in requests_built_to_be_kept("amex-default-xgboost"):
            answer = client.post(url + path, content=body, headers={"content-type": "application/json"})
            assert answer.status_code == status, answer.text[:200]
    grown = resident_bytes(pid) - after_first
    print(f"resident: {after_first / 2**20:.0f} MB after the first request, {grown / 2**20:+.1f} MB after 50 more")
    assert grown <= GOAL_MB * 2**20, f"resident memory grew {grown / 2**20:.0f} MB over 50 requests"
