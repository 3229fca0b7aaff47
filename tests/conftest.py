"""Shared fixtures: the user's legacy pickles, a real S3 endpoint (moto server), data files.

Constants and helpers the tests import live in helpers.py."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from helpers import LEGACY, LEGACY_FILES, SYNTHETIC_MODEL
from runtimes import Runtimes

from amex_scoring.image import ImageFolder

# Handlers read their settings at import; keep them quiet and deterministic in tests.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "amex-scoring")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def pytest_configure(config: pytest.Config) -> None:
    """The suite's model before anything imports a handler: built from the synthetic recipe
    (about 10 s, once per code version), and what MODEL_URI names for the whole session."""
    if not (SYNTHETIC_MODEL / "manifest.json").is_file():
        from amex_scoring.synthetic_model import write_synthetic_model

        for stale in SYNTHETIC_MODEL.parent.glob("synthetic-*"):  # other code versions', a day old
            if time.time() - stale.stat().st_mtime > 86_400:
                shutil.rmtree(stale, ignore_errors=True)
        write_synthetic_model(SYNTHETIC_MODEL, command="tests/conftest.py (the test suite's own model)")
    os.environ["MODEL_URI"] = str(SYNTHETIC_MODEL)


@pytest.fixture(scope="session")
def legacy_dir() -> Path:
    if not all((LEGACY / name).is_file() for name in LEGACY_FILES.values()):
        pytest.skip(f"legacy artifacts not found in {LEGACY}")
    return LEGACY


@pytest.fixture(scope="session")
def legacy_model_dir(legacy_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from amex_scoring.legacy import import_legacy

    out = tmp_path_factory.mktemp("legacy") / "model"
    import_legacy(*(legacy_dir / LEGACY_FILES[k] for k in ("vectorizer", "imputer", "model")), out)
    return out


@pytest.fixture(scope="session")
def synthetic_model():
    from lambda_function.core.scoring import Model

    return Model(str(SYNTHETIC_MODEL)).load()


@pytest.fixture(scope="session")
def statements_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 synthetic customers with 1 to 13 statements each, in Kaggle order."""
    from amex_scoring.synth import write_synthetic

    path = tmp_path_factory.mktemp("data") / "statements.parquet"
    write_synthetic(path, 300, statements=13, seed=5)
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto in server mode: a real HTTP S3 endpoint on 127.0.0.1."""
    from moto.server import ThreadedMotoServer

    from lambda_function.s3 import s3_client

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    with mock.patch.dict(os.environ, {"AWS_ENDPOINT_URL_S3": endpoint, **credentials}):  # restored after
        s3_client.cache_clear()
        yield endpoint
        server.stop()
    s3_client.cache_clear()


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> ImageFolder:
    """The image's /var/task (and /var/runtime) without Docker: amex_scoring/image.py."""
    return ImageFolder.build(tmp_path_factory.mktemp("var-task"), model=SYNTHETIC_MODEL)


@pytest.fixture(scope="module")
def runtimes(image: ImageFolder, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtimes]:
    """Starts the template's functions under Lambda's runtime (tests/runtimes.py); stops them after."""
    s3 = {"AWS_ENDPOINT_URL_S3": s3_endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    found = Runtimes(image, tmp_path_factory.mktemp("runtimes"), s3)
    yield found
    found.close()


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    from lambda_function.s3 import s3_client

    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_client().create_bucket(Bucket=name)
    return name


logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server access logs
