"""Shared helpers: machine description, cached inputs, measuring a child process."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".venv" / "bench-cache"
LEGACY = Path(os.environ.get("LEGACY_ARTIFACTS_DIR", ROOT.parent / "shared" / "legacy-artifacts"))


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError):
        pass
    return {
        "reclaim": damon_pageout(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def damon_pageout() -> bool:
    """Whether the kernel's DAMON is paging out memory it sees idle: code not run for a few
    seconds is then read back from disk, which slows short calls more than long ones."""
    for kdamond in Path("/sys/kernel/mm/damon/admin/kdamonds").glob("*"):
        try:
            if (kdamond / "state").read_text().strip() != "on":
                continue
            actions = kdamond.glob("contexts/*/schemes/*/action")
            if any(action.read_text().strip() == "pageout" for action in actions):
                return True
        except OSError:
            continue
    return False


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def run_worker(
    args: list[str],
    *,
    memory_limit_gb: float | None = None,
    python: str | None = None,
    only_paths: list[Path] | None = None,
    environment: dict[str, str] | None = None,
    timeout: float = 3600,
) -> dict[str, Any]:
    """Run `python -m bench.worker ...` in a fresh process; it prints one JSON line last.

    `only_paths`: the worker sees these folders and no site-packages, as the image's interpreter
    sees its own folders; it starts in the first, the image's /var/task, so that `lambda_function`
    is imported from there, bytecode precompiled as the Dockerfile does, and not from this
    checkout (with PYTHONDONTWRITEBYTECODE set, it would be compiled anew in every run). This
    checkout comes last on the path, for the `bench` package alone. `environment`: variables
    set on top of this process's, such as the image's (amex_scoring.image.image_environment).
    """
    command = [python or sys.executable, *(["-S"] if only_paths else []), "-m", "bench.worker", *args]
    env = {**os.environ, **(environment or {})}
    if only_paths:
        env["PYTHONPATH"] = os.pathsep.join(map(str, [*only_paths, ROOT]))
    cwd = only_paths[0] if only_paths else ROOT
    if memory_limit_gb is not None:  # the worker applies it before importing anything
        command += ["--memory-limit-gb", str(memory_limit_gb)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)
    wall = time.perf_counter() - started
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:]
        return {"ok": False, "error": " / ".join(tail) or f"exit {result.returncode}", "process_seconds": wall}
    data = json.loads(lines[-1])
    data.update(ok=True, process_seconds=wall)
    return data


def folder_size_mb(path: Path) -> float:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            file = Path(root) / name
            if not file.is_symlink():
                total += file.stat().st_size
    return total / 1024 / 1024


def warm(path: Path) -> None:
    """Read the file once, untimed, so the run after it finds it in the page cache. This machine's
    kernel reclaims page cache it sees idle for seconds (DAMON), so otherwise a run that follows
    one with a large memory footprint reads its input from disk, and the order of the sides
    would decide part of their times."""
    with open(path, "rb") as source:
        while source.read(1 << 23):
            pass
