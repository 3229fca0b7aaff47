"""The Lambda image's /var/task, built without Docker: what the Dockerfile does, step by step.

`pip install --require-hashes --only-binary=:all: --no-deps -r requirements/runtime.txt --target`,
then the two folders the Dockerfile copies, then `compileall`; the Dockerfile's `ENV` for the
processes that run from it. Used by the tests (to run both handlers from it in an isolated
interpreter) and by the benchmarks (size, cold start, the batch path as the image runs it).
"""

from __future__ import annotations

import glob
import hashlib
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
DOCKERFILE = ROOT / "Dockerfile"
COPIED = ("lambda_function", "model")


def lambda_python(required: bool = False) -> str:
    """Python 3.12, as in the Lambda base image, where this machine has it; else this Python,
    or, if `required`, an error: the image test must not pass on another interpreter."""
    candidates = [
        shutil.which("python3.12"),
        *sorted(glob.glob("/root/.pyenv/versions/3.12*/bin/python3.12")),
        "/usr/bin/python3.12",
        "/usr/local/bin/python3.12",
    ]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] >= (3, 12))"], capture_output=True, text=True
        )
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return candidate
    if required:
        raise RuntimeError("Python 3.12 (the Lambda base image's) is not on this machine: install python3.12")
    return sys.executable


def install_target(requirements: list[str], target: Path, python: str, *, hashed: bool = True) -> Path:
    """`pip install --target`, once per set of requirements and interpreter (cached by a .complete marker)."""
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    command = [
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-cache-dir",
        "--only-binary=:all:",
        "--target",
        str(target),
    ]
    if hashed:  # a lock: exactly its files (it leaves out SciPy, which the xgboost package would bring)
        command += ["--require-hashes", "--no-deps"]
    subprocess.run([*command, *requirements], check=True)
    subprocess.run([python, "-m", "compileall", "-q", str(target)], check=False)
    (target / ".complete").touch()
    return target


def runtime_dependencies(python: str, cache: Path = ROOT / ".venv" / "image-deps") -> Path:
    """The Dockerfile's pip step; cached per lock file and interpreter."""
    version = subprocess.run([python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True).stdout
    key = hashlib.sha256(RUNTIME_LOCK.read_bytes() + version.encode()).hexdigest()[:16]
    return install_target(["-r", str(RUNTIME_LOCK)], cache / key, python)


def task_folder(target: Path, python: str, model: Path = ROOT / "model") -> Path:
    """The Dockerfile's COPY steps and its compileall, into `target`; `model` is what lands in
    /var/task/model (the Dockerfile copies `model/`; the tests bake their own)."""
    for folder, source in zip(COPIED, (ROOT / "lambda_function", model), strict=True):
        shutil.rmtree(target / folder, ignore_errors=True)
        shutil.copytree(source, target / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([python, "-m", "compileall", "-q", str(target)], check=True)
    return target


def image_environment() -> dict[str, str]:
    """The variables the Dockerfile's `ENV` lines set (one `KEY=value` each), which every
    process of the image has."""
    environment = {}
    for line in re.findall(r"^ENV (.+)$", DOCKERFILE.read_text(), re.MULTILINE):
        name, equals, value = line.partition("=")
        if not equals or " " in name or " " in value:
            raise ValueError(f"Dockerfile: write ENV as one KEY=value per line, not {line!r}")
        environment[name] = value
    return environment


RUNTIME_CLIENT_LOCK = ROOT / "requirements" / "lambda-runtime.txt"
SAM_ENVIRONMENT = ROOT / ".venv" / "sam"


@dataclass(frozen=True)
class ImageFolder:
    """What a function's process sees in the image: the interpreter (/var/lang), the code and model
    (/var/task), the locked dependencies (pip --target /var/task, kept apart here so that they are
    installed once) and AWS's runtime interface client (/var/runtime)."""

    python: str
    task: Path
    dependencies: Path
    runtime_client: Path

    @classmethod
    def build(cls, target: Path, model: Path = ROOT / "model") -> ImageFolder:
        python = lambda_python(required=True)  # never prove the image on another interpreter
        task = task_folder(target, python, model)
        return cls(python, task, runtime_dependencies(python), runtime_client(python))


def runtime_client(python: str, cache: Path = ROOT / ".venv" / "lambda-runtime") -> Path:
    """`awslambdaric` (requirements/lambda-runtime.txt) for the image's Python: the base image's
    /var/runtime. Cached per lock file and interpreter."""
    version = subprocess.run([python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True).stdout
    key = hashlib.sha256(RUNTIME_CLIENT_LOCK.read_bytes() + version.encode()).hexdigest()[:16]
    return install_target(["-r", str(RUNTIME_CLIENT_LOCK)], cache / key, python)


def runtime_emulator(sam_environment: Path = SAM_ENVIRONMENT) -> Path:
    """AWS's Runtime Interface Emulator, the binary SAM CLI's wheel ships for `sam local`."""
    machine = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine().lower()]
    found = sorted(sam_environment.glob(f"lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-{machine}"))
    if not found:
        raise RuntimeError(f"aws-lambda-rie-{machine} not found under {sam_environment}: run make install")
    return found[0]
