"""The README's Open Inference Protocol examples, run as a user runs them: `amex-scoring serve` in
its own process on a real socket, the README's curl body sent as is, and its tritonclient code
(NVIDIA's client, unchanged) executed with only the address replaced. Every number must be what
`/v1/predict?explain=3` of the same server answers: for the committed synthetic model and for the
user's own pickles, imported."""

from __future__ import annotations

import json
import re
import shlex
import socket
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import ROOT, SYNTHETIC_MODEL, served

README = (ROOT / "README.md").read_text()
V2_SECTION = README[README.index("## The Open Inference Protocol") : README.index("## Input rules")]


def _block(language: str, containing: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", V2_SECTION, re.DOTALL)
    [found] = [block for block in blocks if containing in block]
    return str(found)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["synthetic", "legacy"])
def served_model(request: pytest.FixtureRequest) -> Iterator[str]:
    model = SYNTHETIC_MODEL if request.param == "synthetic" else request.getfixturevalue("legacy_model_dir")
    with served(model) as (url, _):
        yield url.removeprefix("http://")


def _post(url: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    headers = {"content-type": "application/json"} if headers is None else headers
    request = urllib.request.Request(url, json.dumps(body).encode(), headers)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def _v1(address: str) -> list[dict[str, Any]]:
    customers = [{"customer_ID": "a", "D_75": 0.1}, {"customer_ID": "b", "D_75": 0.7}]
    return list(_post(f"http://{address}/v1/predict?explain=3", {"customers": customers})["predictions"])


def test_the_readme_curl_example_answers_as_v1_does(served_model: str) -> None:
    command = shlex.split(_block("sh", "/infer").replace("\\\n", " "))
    url = command[command.index("-s") + 1].replace("localhost:8000", served_model)
    headers = dict(command[i + 1].split(": ", 1) for i, word in enumerate(command) if word == "-H")
    answer = _post(f"http://{url}", json.loads(command[command.index("-d") + 1]), headers)
    outputs = {output["name"]: output["data"] for output in answer["outputs"]}
    expected = _v1(served_model)
    assert outputs["customer_ID"] == ["a", "b"]
    assert outputs["probability"] == [p["probability"] for p in expected]  # exactly: the same scoring path
    assert outputs["default"] == [p["default"] for p in expected]


def test_the_readme_tritonclient_example_answers_as_v1_does_reasons_included(served_model: str) -> None:
    pytest.importorskip("tritonclient.http")
    code = _block("python", "tritonclient").replace('"127.0.0.1:8000"', repr(served_model))
    scope: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), scope)  # the README's own code, as a user pastes it
    expected = _v1(served_model)
    assert scope["probabilities"].tolist() == [p["probability"] for p in expected]
    assert scope["reasons"] == [p["reasons"] for p in expected]
    assert all(len(reasons) == 3 for reasons in scope["reasons"])
