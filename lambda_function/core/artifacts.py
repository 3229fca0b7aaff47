"""The model directory: what `model/` holds and what MODEL_URI points at.

    manifest.json       format version, name, version, input schema, threshold, metrics,
                        and the SHA-256 of every other file
    preprocessing.json  imputation values, one-hot layout, imported scaling/selection
    model.ubj           the booster in XGBoost's own UBJSON format
    reference.json      optional: training score and input distributions, for drift
    golden.json         optional: reference customers' statements and the probabilities the
                        model must give them (golden.py), checked by `amex-scoring verify-model`

Nothing here is executable: loading never unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PREPROCESSING = "preprocessing.json"
BOOSTER = "model.ubj"
REFERENCE = "reference.json"
GOLDEN = "golden.json"
REQUIRED_FILES = (PREPROCESSING, BOOSTER)
# Checked before a byte is parsed: JSON's parsed form takes several times its size (a 207 MB
# preprocessing.json of millions of categories took 1.4 GB), above the functions' memory.
# Real ones are kilobytes; a booster of thousands of deep trees, tens of megabytes.
MAX_BYTES = {MANIFEST: 4_000_000, PREPROCESSING: 16_000_000, REFERENCE: 16_000_000, GOLDEN: 16_000_000}
MAX_BOOSTER_BYTES = 512_000_000


class ArtifactError(Exception):
    """A model artifact is missing, corrupt or does not match its checksum."""


@dataclass(frozen=True)
class ModelArtifacts:
    directory: Path
    manifest: dict[str, Any]
    preprocessing: dict[str, Any]
    reference: dict[str, Any] | None
    checksum: str  # SHA-256 of manifest.json, which pins every other file
    booster_bytes: bytes = field(repr=False)  # the verified bytes: what was hashed is what gets loaded
    golden: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def booster_path(self) -> Path:
        return self.directory / BOOSTER


def _read(path: Path) -> bytes:
    """A file of the model directory itself (a link to elsewhere is refused: what is verified
    and shipped must be the directory), at most its size limit, checked before it is read."""
    if not path.is_file():
        raise ArtifactError(f"model artifact missing: {path}")
    if path.is_symlink() and not path.resolve().is_relative_to(path.parent.resolve()):
        raise ArtifactError(f"{path} links to {path.resolve()}, outside the model directory: copy the file in")
    _check_size(str(path), path.stat().st_size)
    return path.read_bytes()


def _check_size(where: str, size: int) -> None:
    limit = MAX_BYTES.get(where.rsplit("/", 1)[-1], MAX_BOOSTER_BYTES)
    if size > limit:
        raise ArtifactError(f"{where} is {size:,} bytes, over the {limit:,} a model file may be")


def _parse_json(path: Path, data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactError(f"model artifact is not valid JSON: {path} ({error})") from None
    if not isinstance(parsed, dict):
        raise ArtifactError(f"model artifact is not a JSON object: {path}")
    return parsed


def load_artifacts(directory: str | Path) -> ModelArtifacts:
    """Read a local model directory, verifying every file against the manifest.

    Each file is read once; what is parsed and loaded is the very bytes that were hashed.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ArtifactError(f"model directory not found: {directory}")
    manifest_path = directory / MANIFEST
    manifest_bytes = _read(manifest_path)
    manifest = _parse_json(manifest_path, manifest_bytes)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{manifest_path}: format_version {manifest.get('format_version')!r} is not "
            f"supported (expected {FORMAT_VERSION})"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or any(name not in files for name in REQUIRED_FILES):
        raise ArtifactError(f"{manifest_path}: 'files' must list {', '.join(REQUIRED_FILES)}")
    verified: dict[str, bytes] = {}
    for name, expected in files.items():
        if Path(name).name != name:
            raise ArtifactError(f"{manifest_path}: file name {name!r} must not contain a path")
        path = directory / name
        data = _read(path)
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise ArtifactError(
                f"checksum mismatch for {path}: manifest says {expected}, file is {actual} "
                "(corrupt or tampered artifact)"
            )
        verified[name] = data
    return ModelArtifacts(
        directory=directory,
        manifest=manifest,
        preprocessing=_parse_json(directory / PREPROCESSING, verified[PREPROCESSING]),
        reference=_parse_json(directory / REFERENCE, verified[REFERENCE]) if REFERENCE in verified else None,
        checksum=hashlib.sha256(manifest_bytes).hexdigest(),
        booster_bytes=verified[BOOSTER],
        golden=_parse_json(directory / GOLDEN, verified[GOLDEN]) if GOLDEN in verified else None,
    )


def resolve_model_uri(uri: str, cache_dir: str | Path = "/tmp/model-cache") -> Path:
    """A local directory as it is; `s3://bucket/prefix/` downloaded once into the cache."""
    if uri.startswith("s3://"):
        return _fetch_from_s3(uri, Path(cache_dir))
    if "://" in uri:
        raise ArtifactError(f"MODEL_URI must be a directory or s3://bucket/prefix/, got {uri!r}")
    return Path(uri)


def _fetch_from_s3(uri: str, cache_dir: Path) -> Path:
    """Download the model's objects, keyed by their ETags so warm starts reuse /tmp."""
    from botocore.exceptions import ClientError

    from lambda_function.s3 import s3_client, split_s3_uri

    bucket, prefix = split_s3_uri(uri)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    client = s3_client()
    objects: dict[str, str] = {}
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                name = item["Key"][len(prefix) :]
                if name and "/" not in name:
                    objects[name] = item["ETag"]
                    _check_size(f"{uri.rstrip('/')}/{name}", int(item.get("Size", 0)))  # before downloading it
    except ClientError as error:
        raise ArtifactError(f"cannot list model at {uri}: {error}") from None
    if MANIFEST not in objects:
        raise ArtifactError(f"model artifact missing: {uri.rstrip('/')}/{MANIFEST}")
    fingerprint = hashlib.sha256(json.dumps([bucket, prefix, sorted(objects.items())]).encode()).hexdigest()[:24]
    target = cache_dir / fingerprint
    if (target / MANIFEST).is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".download-"))
    try:
        for name in objects:
            client.download_file(bucket, prefix + name, str(staging / name))
        try:
            os.rename(staging, target)
        except OSError:  # a concurrent download got there first
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def write_model_directory(
    out_dir: str | Path,
    manifest: dict[str, Any],
    preprocessing: dict[str, Any],
    booster_bytes: bytes,
    reference: dict[str, Any] | None = None,
    golden: dict[str, Any] | None = None,
) -> Path:
    """Write a complete model directory in one step: a sibling temp dir, then a rename."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}-"))
    staging.chmod(0o755)  # mkdtemp's 0700 would hide the model from Lambda's runtime user
    try:
        contents: dict[str, bytes] = {
            PREPROCESSING: _dump(preprocessing),
            BOOSTER: booster_bytes,
        }
        if reference is not None:
            contents[REFERENCE] = _dump(reference)
        if golden is not None:
            contents[GOLDEN] = _dump(golden)
        for name, data in contents.items():
            (staging / name).write_bytes(data)
        full = {
            "format_version": FORMAT_VERSION,
            **manifest,
            "files": {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()},
        }
        (staging / MANIFEST).write_bytes(_dump(full))
        if out_dir.exists():
            # Keep non-model files someone put there (model/README.md); replace the rest.
            for name in (MANIFEST, *contents, REFERENCE, GOLDEN):
                (out_dir / name).unlink(missing_ok=True)
            for item in staging.iterdir():
                os.replace(item, out_dir / item.name)
            staging.rmdir()
        else:
            os.rename(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _dump(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=False, allow_nan=False) + "\n").encode()
