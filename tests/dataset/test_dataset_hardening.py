"""#30, dataset jobs: a user's input is never written into, empty row groups do not break a
boundary, `_SUCCESS` lists only parts that are what their shards wrote, staging copies are not
inputs, and a split file that is not grouped by customer is named. On local folders (the local
mode) and on moto's S3 over HTTP, through the same plan, shard and reduce code."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import get, keys_in, remove_bucket, upload

from amex_scoring.dataset import score_dataset
from amex_scoring.synth import write_synthetic
from lambda_function.core.scoring import Model
from lambda_function.dataset.plan import JobError, plan_dataset, read_shards
from lambda_function.dataset.reduce import JobFailed, reduce_job
from lambda_function.dataset.shard import score_shard


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")}


@pytest.fixture
def book(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    write_synthetic(folder / "part-00000.parquet", 30, seed=1)
    write_synthetic(folder / "part-00001.parquet", 30, seed=2)
    return folder


def test_a_job_never_writes_into_its_input_however_the_output_is_spelt(
    book: Path, tmp_path: Path, synthetic_model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _digests(book)
    (tmp_path / "link").symlink_to(book)
    monkeypatch.chdir(tmp_path)
    model = str(synthetic_model.artifacts.directory)
    for output in ("in", "./in", str(book), str(tmp_path / "link"), "in/out", "link/./out/", str(book) + "//x"):
        with pytest.raises(JobError, match="must not be inside the input"):
            score_dataset(model, "in", output)
    with pytest.raises(JobError, match="must not be inside the input"):  # the input inside the output
        score_dataset(model, "in", str(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    write_synthetic(elsewhere / "part-00009.parquet", 5, seed=3)
    named = _digests(elsewhere)
    with pytest.raises(JobError, match="must not be inside the input"):  # a named file inside the output
        plan_dataset(str(book), str(elsewhere), 100, "incoming/", keys=[str(elsewhere / "part-00009.parquet")])
    assert _digests(book) == before and _digests(elsewhere) == named and not (tmp_path / "out").exists()


def test_on_s3_the_same_bucket_and_prefix_however_spelt_is_refused(bucket: str, tmp_path: Path) -> None:
    write_synthetic(tmp_path / "a.parquet", 20, seed=1)
    upload(bucket, "datasets/in/a.parquet", tmp_path / "a.parquet")
    for output in ("datasets/in", "datasets/in/", "datasets/in//", "datasets/in/out/"):
        with pytest.raises(JobError, match="must not be inside the input"):
            plan_dataset(f"s3://{bucket}/datasets/in", f"s3://{bucket}/{output}", 100, "incoming/")
    assert keys_in(bucket) == ["datasets/in/a.parquet"]
    plan_dataset(f"s3://{bucket}/datasets/in", f"s3://{bucket}/datasets/in-scored/", 100, "incoming/")  # a sibling
    remove_bucket(bucket)


def test_an_empty_row_group_just_before_a_shard_boundary_does_not_split_a_customer(
    tmp_path: Path, synthetic_model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_synthetic(tmp_path / "s.parquet", 12, statements=4, seed=9)
    table = pq.read_table(tmp_path / "s.parquet").sort_by("customer_ID")
    ids = table["customer_ID"].to_pylist()
    middle = next(i for i in range(len(ids) // 2, len(ids)) if ids[i] == ids[i - 1])  # inside a customer
    source = tmp_path / "in"
    source.mkdir()
    with pq.ParquetWriter(source / "f.parquet", table.schema) as writer:
        writer.write_table(table.slice(0, middle))
        writer.write_table(table.slice(0, 0))  # an empty row group, as some writers leave
        writer.write_table(table.slice(middle))
    assert [pq.ParquetFile(source / "f.parquet").metadata.row_group(g).num_rows for g in range(3)][1] == 0
    monkeypatch.setenv("SHARD_ROWS", str(middle))
    result = score_dataset(str(synthetic_model.artifacts.directory), str(source), str(tmp_path / "out"))
    assert result["shards"] == 2 and result["customers_scored"] == 12 and result["rows_read"] == len(ids)


def _scored_job(source: Path, output: str, model: Model) -> None:
    plan_dataset(str(source), output, 100_000, "incoming/")
    for shard in read_shards(output):
        score_shard(model, shard, output)


@pytest.mark.parametrize("change", ["deleted", "replaced", "truncated"])
def test_success_is_not_written_over_a_part_that_is_not_what_its_shard_wrote(
    book: Path, tmp_path: Path, synthetic_model: Model, change: str
) -> None:
    output = str(tmp_path / "out")
    _scored_job(book, output, synthetic_model)
    part = tmp_path / "out" / "part-00001.parquet"
    if change == "deleted":
        part.unlink()
    elif change == "replaced":  # same size, other bytes
        data = bytearray(part.read_bytes())
        data[100] ^= 1
        part.write_bytes(bytes(data))
    else:
        part.write_bytes(part.read_bytes()[:-10])
    with pytest.raises(JobFailed, match="parts are not what their shards wrote: part-00001.parquet"):
        reduce_job(synthetic_model, output)
    assert not (tmp_path / "out" / "_SUCCESS").exists()
    summary = json.loads((tmp_path / "out" / "_SUMMARY.json").read_text())
    assert summary["problems"]["parts_not_as_written"]["count"] == 1


def test_on_s3_a_replaced_part_is_found_by_its_etag(bucket: str, tmp_path: Path, synthetic_model: Model) -> None:
    for index in (0, 1):
        write_synthetic(tmp_path / f"{index}.parquet", 30, seed=index + 1)
        upload(bucket, f"datasets/b/{index}.parquet", tmp_path / f"{index}.parquet")
    output = f"s3://{bucket}/scored/b/"
    plan_dataset(f"s3://{bucket}/datasets/b/", output, 100_000, "incoming/")
    for shard in read_shards(output):
        score_shard(synthetic_model, shard, output)
    original = get(bucket, "scored/b/part-00000.parquet")
    upload(bucket, "scored/b/part-00000.parquet", original[:-1] + bytes([original[-1] ^ 1]))  # same size
    with pytest.raises(JobFailed, match=r"part-00000.parquet \(replaced"):
        reduce_job(synthetic_model, output)
    assert "scored/b/_SUCCESS" not in keys_in(bucket)
    upload(bucket, "scored/b/part-00000.parquet", original)  # put back as written: the job completes
    assert reduce_job(synthetic_model, output)["status"] == "succeeded"
    remove_bucket(bucket)


def test_spark_and_hive_staging_copies_are_not_inputs_at_any_depth(
    book: Path, tmp_path: Path, synthetic_model: Model
) -> None:
    staged = [
        "_temporary/0/_temporary/attempt_1/part-00000.parquet",
        ".spark-staging-1f2e/part-00000.parquet",
        "year=2026/.hive-staging_hive_2026-11/-ext-10000/part-00000.parquet",
        "year=2026/_temporary/part-00001.parquet",
    ]
    for relative in staged:
        (book / relative).parent.mkdir(parents=True, exist_ok=True)
        (book / relative).write_bytes((book / "part-00000.parquet").read_bytes())
    plan = plan_dataset(str(book), str(tmp_path / "out"), 100_000, "incoming/")
    assert plan["files"] == 2
    assert plan["skipped_not_data"] == {"count": 4, "first": sorted(str(book / r) for r in staged)}
    assert {Path(s.file["uri"]).name for s in read_shards(str(tmp_path / "out"))} == {
        "part-00000.parquet",
        "part-00001.parquet",
    }


def test_a_split_file_not_grouped_by_customer_is_named_under_files_not_scored(
    tmp_path: Path, synthetic_model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each shard's own rows are grouped, but one customer's statements are at the start and at
    the end of the file: only the reduce step can see it, and it names the file."""
    write_synthetic(tmp_path / "s.parquet", 20, statements=3, seed=5)
    table = pq.read_table(tmp_path / "s.parquet").sort_by("customer_ID")
    first = table["customer_ID"][0].as_py()
    tail = table.filter(pa.compute.equal(table["customer_ID"], first)).slice(0, 1)
    source = tmp_path / "in"
    source.mkdir()
    pq.write_table(pa.concat_tables([table, tail]), source / "mixed.parquet", row_group_size=8)
    write_synthetic(source / "fine.parquet", 10, seed=6)
    monkeypatch.setenv("SHARD_ROWS", "16")
    with pytest.raises(JobFailed) as failed:
        score_dataset(str(synthetic_model.artifacts.directory), str(source), str(tmp_path / "out"))
    summary: dict[str, Any] = json.loads((tmp_path / "out" / "_SUMMARY.json").read_text())
    not_scored = summary["problems"]["files_not_scored"]
    assert list(not_scored) == [str(source / "mixed.parquet")] and "not grouped by customer_ID" in str(failed.value)
    assert f"customer {first!r}" in not_scored[str(source / "mixed.parquet")]
    assert "customers_in_two_parts" not in summary["problems"]
    assert summary["customers_scored"] == 10  # the other file, whole
    assert os.path.exists(tmp_path / "out" / "_SUMMARY.json") and not (tmp_path / "out" / "_SUCCESS").exists()
