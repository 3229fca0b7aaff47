"""The model directory: verified on load, from disk or from S3, and never unpickled."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import SYNTHETIC_MODEL, keys_in

from lambda_function.core.artifacts import ArtifactError, load_artifacts
from lambda_function.core.scoring import Model
from lambda_function.s3 import s3_client


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(SYNTHETIC_MODEL, target)
    return target


def test_synthetic_model_loads_and_is_described(synthetic_model: Model) -> None:
    manifest = synthetic_model.manifest
    assert manifest["format_version"] == 1
    assert manifest["source"] == "trained"
    assert set(manifest["files"]) == {"preprocessing.json", "model.ubj", "reference.json", "golden.json"}
    assert {"auc", "gini", "amex_metric"} <= set(manifest["metrics"])
    assert len(synthetic_model.inputs) == 21
    assert len(synthetic_model.checksum) == 64


@pytest.mark.parametrize("name", ["model.ubj", "preprocessing.json", "reference.json", "golden.json"])
def test_a_tampered_file_is_named(model_copy: Path, name: str) -> None:
    with open(model_copy / name, "ab") as handle:
        handle.write(b" ")
    with pytest.raises(ArtifactError, match=rf"checksum mismatch for .*{name}"):
        load_artifacts(model_copy)


def test_a_missing_file_is_named(model_copy: Path) -> None:
    (model_copy / "model.ubj").unlink()
    with pytest.raises(ArtifactError, match=r"model artifact missing: .*model\.ubj"):
        Model(str(model_copy)).load()


def test_a_corrupt_manifest_is_named(model_copy: Path) -> None:
    (model_copy / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match=r"not valid JSON: .*manifest\.json"):
        load_artifacts(model_copy)


def test_a_booster_that_does_not_fit_the_preprocessing_is_refused(model_copy: Path, tmp_path: Path) -> None:
    from lambda_function.core.artifacts import write_model_directory

    artifacts = load_artifacts(model_copy)
    spec = dict(artifacts.preprocessing, selected=[0, 1, 2])
    write_model_directory(tmp_path / "bad", artifacts.manifest, spec, (model_copy / "model.ubj").read_bytes())
    with pytest.raises(ArtifactError, match="expects 56 features but preprocessing.json produces 3"):
        Model(str(tmp_path / "bad")).load()


def test_a_booster_that_does_not_output_probabilities_is_refused(model_copy: Path, tmp_path: Path) -> None:
    """A raw-margin or multi-class model would give numbers that are not default probabilities."""
    import xgboost

    from lambda_function.core.artifacts import write_model_directory

    artifacts = load_artifacts(model_copy)
    booster = xgboost.Booster(model_file=str(model_copy / "model.ubj"))
    booster.set_param({"objective": "binary:logitraw"})
    write_model_directory(tmp_path / "raw", artifacts.manifest, artifacts.preprocessing, booster.save_raw("ubj"))
    with pytest.raises(ArtifactError, match="objective 'binary:logitraw' does not output a probability"):
        Model(str(tmp_path / "raw")).load()


def test_model_loads_from_s3_once_and_reuses_the_cache(bucket: str, tmp_path: Path) -> None:
    for path in SYNTHETIC_MODEL.iterdir():
        s3_client().upload_file(str(path), bucket, f"models/v1/{path.name}")
    cache = tmp_path / "cache"
    first = Model(f"s3://{bucket}/models/v1/", cache_dir=str(cache)).load()
    assert first.checksum == Model(str(SYNTHETIC_MODEL)).load().checksum
    [cached] = [p for p in cache.iterdir() if not p.name.startswith(".")]
    marker = cached / "model.ubj"
    stamp = marker.stat().st_mtime_ns
    Model(f"s3://{bucket}/models/v1", cache_dir=str(cache)).load()  # warm: no download
    assert marker.stat().st_mtime_ns == stamp
    # A new upload changes the ETags, and so the cache key.
    manifest = json.loads((SYNTHETIC_MODEL / "manifest.json").read_text())
    manifest["version"] = "2"
    s3_client().put_object(Bucket=bucket, Key="models/v1/manifest.json", Body=json.dumps(manifest).encode())
    assert Model(f"s3://{bucket}/models/v1/", cache_dir=str(cache)).load().version == "2"
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 2


def test_a_missing_s3_model_is_named(bucket: str, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=rf"model artifact missing: s3://{bucket}/nothing/manifest.json"):
        Model(f"s3://{bucket}/nothing/", cache_dir=str(tmp_path)).load()
    assert keys_in(bucket) == []


def test_a_model_file_that_links_out_of_the_directory_is_refused(model_copy: Path, tmp_path: Path) -> None:
    """#30: what is verified and shipped is the directory; a link could point anywhere later."""
    outside = tmp_path / "elsewhere.json"
    shutil.move(model_copy / "preprocessing.json", outside)
    (model_copy / "preprocessing.json").symlink_to(outside)  # same bytes: the checksum still matches
    with pytest.raises(ArtifactError, match="preprocessing.json links to .*elsewhere.json, outside the model"):
        load_artifacts(model_copy)
    (model_copy / "preprocessing.json").unlink()
    shutil.move(outside, model_copy / "kept.json")
    (model_copy / "preprocessing.json").symlink_to("kept.json")  # a link within the directory is the directory
    assert load_artifacts(model_copy).preprocessing["numeric"]


def _oversized(model_copy: Path) -> Path:
    """preprocessing.json of 17 MB (millions of categories' worth), with a checksum to match."""
    import hashlib

    spec = json.loads((model_copy / "preprocessing.json").read_text())
    spec["padding"] = "x" * 17_000_000
    data = json.dumps(spec).encode()
    (model_copy / "preprocessing.json").write_bytes(data)
    manifest = json.loads((model_copy / "manifest.json").read_text())
    manifest["files"]["preprocessing.json"] = hashlib.sha256(data).hexdigest()
    (model_copy / "manifest.json").write_text(json.dumps(manifest))
    return model_copy


def test_a_model_file_over_its_size_limit_is_refused_before_it_is_read(model_copy: Path) -> None:
    with pytest.raises(ArtifactError, match=r"preprocessing.json is 17,00\d,\d{3} bytes, over the 16,000,000"):
        load_artifacts(_oversized(model_copy))


def test_on_s3_an_oversized_model_file_is_refused_before_it_is_downloaded(
    bucket: str, model_copy: Path, tmp_path: Path
) -> None:
    for path in _oversized(model_copy).iterdir():
        s3_client().upload_file(str(path), bucket, f"models/big/{path.name}")
    with pytest.raises(ArtifactError, match=r"models/big/preprocessing.json is 17,00\d,\d{3} bytes, over the"):
        Model(f"s3://{bucket}/models/big/", cache_dir=str(tmp_path / "cache")).load()
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("preprocessing.json"))
