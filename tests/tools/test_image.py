"""The container image's contents, proven without Docker.

The runtime lock is installed into an empty folder exactly as the Dockerfile does and the two
folders the Dockerfile copies are added (amex_scoring/image.py); every handler the template names
imports from there alone. tests/platform/test_lambda_runtime.py runs each under the Lambda runtime, and
tests/platform/test_sam.py builds and runs the real image with SAM where Docker is available.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from helpers import ROOT

from amex_scoring.image import ImageFolder, image_environment
from amex_scoring.lambda_runtime import template_functions

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_dockerfile_installs_the_runtime_lock_and_copies_two_folders() -> None:
    assert "FROM public.ecr.aws/lambda/python:3.12" in DOCKERFILE
    assert re.search(
        r"pip install --no-cache-dir --require-hashes --only-binary=:all: --no-deps \\\s+-r /tmp/requirements.txt "
        r'--target "\$\{LAMBDA_TASK_ROOT\}"',
        DOCKERFILE,
    )
    copies = re.findall(r"^COPY (\S+) ", DOCKERFILE, re.MULTILINE)
    assert copies == ["requirements/runtime.txt", "lambda_function/", "model/"]
    runtime = (ROOT / "requirements" / "runtime.txt").read_text()
    for banned in ("scikit-learn", "pandas", "pytest", "moto", "\nxgboost==", "\nscipy=="):
        assert banned not in runtime, banned
    assert "\nxgboost-cpu==" in runtime


SECOND_ROUND_FAULTS = """
import resource
def faults(): return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
counts = []
for _ in range(2):
    before = faults()
    for size in (1 << 20, 4 << 20, 16 << 20):  # the sizes of a batch's numpy arrays
        block = bytearray(size)
        del block
    counts.append(faults() - before)
print(counts[1])
"""


def test_the_image_keeps_freed_memory_for_the_next_array(image: ImageFolder) -> None:
    """The Dockerfile's GLIBC_TUNABLES: allocating the same arrays again finds their pages in
    place, where glibc's defaults hand them back to the kernel and fault them in anew."""
    python = image.python

    def second_round_faults(env: dict[str, str]) -> int:
        command = [python, "-I", "-S", "-c", SECOND_ROUND_FAULTS]
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stderr
        return int(result.stdout)

    assert "GLIBC_TUNABLES" in image_environment()
    assert second_round_faults(image_environment()) < 100
    assert second_round_faults({}) > 1000  # 16 MiB of 4 KiB pages faulted in again


def test_the_image_gets_only_what_it_runs(image: ImageFolder) -> None:
    """No SciPy (the xgboost package's dependency, never imported): the dependency folder stays small."""
    deps = image.dependencies
    assert not (deps / "scipy").exists() and (deps / "xgboost" / "lib").is_dir()
    size_mb = sum(path.stat().st_size for path in deps.rglob("*") if path.is_file()) / 2**20
    assert size_mb <= 300, f"{size_mb:.0f} MB"


IMPORT_EVERY_HANDLER = """
import importlib, json, sys
for path in sys.argv[1:]:
    module, name = path.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), name)), path
print(json.dumps({
    "files": sorted({sys.modules[p.rsplit(".", 1)[0]].__file__ for p in sys.argv[1:]}),
    "path": sys.path,
    "heavy": sorted(m for m in ("pandas", "sklearn", "pytest", "moto", "scipy", "xgboost") if m in sys.modules),
}))
"""


def test_every_handler_the_template_names_imports_from_the_image_folder_alone(
    image: ImageFolder, tmp_path: Path
) -> None:
    """As the runtime's processes see them (tests/platform/test_lambda_runtime.py runs each): the handlers
    come from the task folder, nothing from this machine's site-packages, no build-time package."""
    handlers = sorted({spec.handler for spec in template_functions().values()})
    assert "lambda_function.handlers.monitor.handler" in handlers and len(handlers) == 7
    environment = {"PYTHONPATH": f"{image.dependencies}:{image.runtime_client}", **image_environment()}
    # What the template sets to its own resources (the bucket): here, folders.
    environment |= {"CAPTURE_URI": str(tmp_path / "captures"), "MONITORING_URI": str(tmp_path / "monitoring")}
    result = subprocess.run(
        [image.python, "-S", "-c", IMPORT_EVERY_HANDLER, *handlers],
        capture_output=True,
        text=True,
        cwd=image.task,
        env={**os.environ, **environment},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout.splitlines()[-1])
    assert all(file.startswith(str(image.task)) for file in found["files"])
    assert not any("site-packages" in entry for entry in found["path"])
    assert found["heavy"] == []
