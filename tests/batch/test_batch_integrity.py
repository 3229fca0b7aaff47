"""Nothing lost, nothing wrong: every key names exactly its own object, every read is of one
version, every input has its own outputs that S3 accepts. Against moto's S3 server over HTTP."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from pathlib import Path
from unittest import mock

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import get, invoke, keys_in, parquet_bytes, predictions, racing_s3, upload

from lambda_function.batch.outputs import fitted_key, output_keys
from lambda_function.batch.scorer import BatchScorer, S3Object
from lambda_function.core.scoring import Model
from lambda_function.files.checks import valid as _valid
from lambda_function.files.statements import InputError
from lambda_function.s3 import MAX_KEY_BYTES, SourceChanged, s3_client
from lambda_function.settings import Settings


@pytest.fixture(scope="module")
def two_files(statements_file: Path) -> tuple[bytes, bytes]:
    """Two valid statement files with different customers: which one was scored is visible."""
    table = pq.read_table(statements_file)
    first = table.filter(pa.compute.is_in(table["customer_ID"], table["customer_ID"].unique()[:100]))
    second = table.filter(pa.compute.is_in(table["customer_ID"], table["customer_ID"].unique()[200:]))
    return parquet_bytes(first), parquet_bytes(second)


def customers_of(data: bytes) -> set[str]:
    return set(pq.read_table(pa.BufferReader(data))["customer_ID"].to_pylist())


@pytest.mark.parametrize(
    "key",
    [
        "incoming/x/../../private/victim.parquet",
        "incoming/../dotdot.parquet",
        "incoming/a/../b.parquet",
        "incoming/./dot.parquet",
        "incoming//double.parquet",
    ],
)
def test_a_key_with_dot_segments_scores_exactly_its_own_object(bucket: str, two_files, key: str) -> None:
    own, other = two_files
    upload(bucket, key, own)
    for lookalike in ("private/victim.parquet", "dotdot.parquet", "incoming/b.parquet", "incoming/dot.parquet"):
        upload(bucket, lookalike, other)  # what a path-normalising reader would read instead
    result = invoke(bucket, key)
    assert result["status"] == "scored", result
    scored = predictions(bucket, result["output"].removeprefix(f"s3://{bucket}/"))
    assert set(scored) == customers_of(own)
    assert result["output"] == f"s3://{bucket}/scored/{key.removeprefix('incoming/')}.predictions.parquet"


def test_inputs_that_differ_only_in_format_get_their_own_outputs(bucket: str, statements_file: Path) -> None:
    import pyarrow.csv as pacsv

    table = pq.read_table(statements_file)
    halves = {"x.parquet": table.slice(0, 1000), "x.csv": table.slice(1000, 1000), "x.csv.gz": table.slice(2000, 1000)}
    for name, part in halves.items():
        sink = pa.BufferOutputStream()
        if name == "x.parquet":
            pq.write_table(part, sink)
        else:
            with pa.CompressedOutputStream(sink, "gzip") if name.endswith(".gz") else sink as out:
                pacsv.write_csv(part, out)
        upload(bucket, f"incoming/{name}", sink.getvalue().to_pybytes())
        assert invoke(bucket, f"incoming/{name}")["status"] == "scored"
    for name, part in halves.items():
        scored = predictions(bucket, f"scored/{name}.predictions.parquet")
        assert set(scored) == set(part["customer_ID"].to_pylist())
        summary = json.loads(get(bucket, f"scored/{name}.summary.json"))
        assert summary["input"]["key"] == f"incoming/{name}"


def test_output_keys_are_one_to_one_with_input_keys() -> None:
    settings = Settings.from_env()
    names = ["x.parquet", "x.csv", "x.csv.gz", "x.csv.parquet", "x.parquet.csv", "a/x.parquet", "a.x.parquet"]
    keys = [output_keys(f"incoming/{name}", settings) for name in names]
    every = [key for triple in keys for key in (triple.predictions, triple.summary, triple.error)]
    assert len(set(every)) == len(every)


def test_output_keys_fit_s3s_limit_at_the_longest_input_key(bucket: str, statements_file: Path) -> None:
    stem = "incoming/" + "é" * 300 + "€" * 200  # 2- and 3-byte characters: cut points inside characters
    key = stem + ".parquet"
    while len(key.encode()) > MAX_KEY_BYTES:
        stem = stem[:-1]
        key = stem + ".parquet"
    assert MAX_KEY_BYTES - 2 <= len(key.encode()) <= MAX_KEY_BYTES
    upload(bucket, key, statements_file)  # S3 takes the input...
    result = invoke(bucket, key)
    assert result["status"] == "scored", result
    outputs = [k for k in keys_in(bucket) if k != key]
    assert len(outputs) == 2 and all(len(k.encode()) <= MAX_KEY_BYTES for k in outputs)  # ...and the outputs
    summary_key = next(k for k in outputs if k.endswith(".summary.json"))
    assert json.loads(get(bucket, summary_key))["input"]["key"] == key
    # the shortened keys keep the start of the name, and still tell inputs apart
    name = key.removeprefix("incoming/")
    shortened = fitted_key("scored/", name, ".summary.json")
    assert shortened == summary_key and shortened.startswith("scored/éé") and "~" in shortened
    assert fitted_key("scored/", name[:-9] + "x.parquet", ".summary.json") != shortened


def test_an_id_longer_than_the_http_limit_is_refused_in_files_too(bucket: str, statements_file: Path) -> None:
    table = pq.read_table(statements_file)
    ids = table["customer_ID"].to_pylist()
    ids[7] = "c" * 257
    upload(bucket, "incoming/long-id.parquet", parquet_bytes(table.set_column(0, "customer_ID", pa.array(ids))))
    result = invoke(bucket, "incoming/long-id.parquet")
    assert result["error"] == "invalid_input"
    assert result["message"] == (
        "column customer_ID: 1 rows have an ID that is not a string of 1 to 256 characters, not all blank "
        "(first at row 7)"
    )
    ids[7] = "c" * 256  # the limit itself is fine, as over HTTP
    upload(bucket, "incoming/long-id.parquet", parquet_bytes(table.set_column(0, "customer_ID", pa.array(ids))))
    assert invoke(bucket, "incoming/long-id.parquet")["status"] == "scored"


def _damaged_page(table: pa.Table, column: str) -> bytes:
    """The file as parquet-mr and Spark write it, with page checksums, and bytes of one page overwritten."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, write_page_checksum=True, compression="none")
    data = bytearray(sink.getvalue().to_pybytes())
    chunk = pq.ParquetFile(pa.BufferReader(bytes(data))).metadata.row_group(0)
    meta = next(chunk.column(i) for i in range(chunk.num_columns) if chunk.column(i).path_in_schema == column)
    middle = (meta.dictionary_page_offset or meta.data_page_offset) + meta.total_compressed_size // 2
    data[middle : middle + 8] = bytes(8)  # uncompressed: without the checksum, a readable file of wrong values
    return bytes(data)


def test_a_damaged_page_is_reported_not_scored(bucket: str, statements_file: Path) -> None:
    upload(bucket, "incoming/damaged.parquet", _damaged_page(pq.read_table(statements_file), "D_48"))
    result = invoke(bucket, "incoming/damaged.parquet")
    assert result["error"] == "invalid_input"
    assert result["message"].startswith("cannot read the file: could not verify page integrity, CRC checksum")
    assert keys_in(bucket) == ["errors/damaged.parquet.error.json", "incoming/damaged.parquet"]


def test_text_that_is_not_utf8_under_a_text_type_is_reported(bucket: str, statements_file: Path) -> None:
    """A writer can store invalid bytes in a column annotated as text; the Parquet reader does
    not check them, and those IDs would otherwise be scored and written as they are."""
    table = pq.read_table(statements_file)
    ids = [value.encode() for value in table["customer_ID"].to_pylist()]
    ids[3] = b"\xff\xfe" + ids[3][2:]
    invalid = pa.array(ids, pa.binary()).view(pa.string())  # a view: nothing checked
    upload(bucket, "incoming/bad-text.parquet", parquet_bytes(table.set_column(0, "customer_ID", invalid)))
    result = invoke(bucket, "incoming/bad-text.parquet")
    assert result["error"] == "invalid_input"
    assert result["message"].startswith("the file is damaged in column customer_ID: ")
    assert "Invalid UTF8" in result["message"]


def test_dictionary_codes_past_their_dictionary_are_an_input_error() -> None:
    """What a damaged dictionary page can decode into: codes that would fail much later, as a bug."""
    codes = pa.DictionaryArray.from_arrays(
        pa.array([0, 1, 5], pa.int32()), pa.array(["2018-03-31", "2018-04-30"]), safe=False
    )
    batch = pa.record_batch({"customer_ID": pa.array(["a", "b", "c"]), "S_2": codes})
    with pytest.raises(InputError, match=r"^the file is damaged in column S_2: .*out of bounds"):
        _valid(batch)


def test_ids_with_commas_quotes_or_line_breaks_survive_a_csv_output(
    bucket: str, statements_file: Path, synthetic_model: Model
) -> None:
    """IDs unquoted as usual; where one needs quoting, every ID is quoted, and a CSV reader gets
    back exactly the IDs and scores of the Parquet output."""
    table = pq.read_table(statements_file)
    odd = dict(zip(table["customer_ID"].unique()[:3].to_pylist(), ["a,b", 'say "hi"', "two\nlines"], strict=True))
    ids = pa.array([odd.get(value, value) for value in table["customer_ID"].to_pylist()])
    upload(bucket, "incoming/odd-ids.parquet", parquet_bytes(table.set_column(0, "customer_ID", ids)))
    assert invoke(bucket, "incoming/odd-ids.parquet")["status"] == "scored"
    expected = predictions(bucket, "scored/odd-ids.parquet.predictions.parquet")
    settings = dataclasses.replace(Settings.from_env(), output_format="csv")
    result = BatchScorer(synthetic_model, settings).process(
        S3Object(bucket, "incoming/odd-ids.parquet"), lambda: 900_000
    )
    assert result["status"] == "scored"
    rows = list(csv.reader(io.StringIO(get(bucket, "scored/odd-ids.parquet.predictions.csv").decode(), newline="")))
    assert rows[0] == ["customer_ID", "prediction"]
    assert {customer: float(score) for customer, score in rows[1:]} == expected
    assert set(odd.values()) <= expected.keys()


@pytest.fixture
def versioned_bucket(bucket: str) -> str:
    s3_client().put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


def _through(endpoint: str):  # the function's S3 client, pointed at the racing proxy
    s3_client.cache_clear()
    return mock.patch.dict(os.environ, {"AWS_ENDPOINT_URL_S3": endpoint})


def test_an_overwrite_during_the_read_cannot_mix_versions(versioned_bucket: str, s3_endpoint: str, two_files) -> None:
    bucket, (old, new) = versioned_bucket, two_files
    first = upload(bucket, "incoming/raced.parquet", old)
    overwrite = lambda: upload(bucket, "incoming/raced.parquet", new)  # noqa: E731
    try:
        with racing_s3(s3_endpoint, overwrite) as racing, _through(racing):
            result = invoke(bucket, "incoming/raced.parquet", version_id=first["VersionId"])
    finally:
        s3_client.cache_clear()
    assert result["status"] == "scored"
    assert get(bucket, "incoming/raced.parquet") == new  # the race happened
    summary = json.loads(get(bucket, "scored/raced.parquet.summary.json"))
    assert summary["input"]["version_id"] == first["VersionId"]
    assert summary["input"]["etag"] == first["ETag"].strip('"')
    assert set(predictions(bucket, "scored/raced.parquet.predictions.parquet")) == customers_of(old)


def test_an_event_for_an_older_version_scores_that_version(versioned_bucket: str, two_files) -> None:
    bucket, (old, new) = versioned_bucket, two_files
    first = upload(bucket, "incoming/v.parquet", old)
    upload(bucket, "incoming/v.parquet", new)
    invoke(bucket, "incoming/v.parquet", version_id=first["VersionId"])
    assert set(predictions(bucket, "scored/v.parquet.predictions.parquet")) == customers_of(old)


@pytest.mark.parametrize("change", ["overwrite", "delete"])
def test_without_versions_a_changed_object_is_retried_not_misreported(
    bucket: str, s3_endpoint: str, two_files, change: str
) -> None:
    old, new = two_files
    upload(bucket, "incoming/raced.parquet", old)

    def race() -> None:
        if change == "overwrite":
            upload(bucket, "incoming/raced.parquet", new)
        else:
            s3_client().delete_object(Bucket=bucket, Key="incoming/raced.parquet")

    try:
        with racing_s3(s3_endpoint, race) as racing, _through(racing), pytest.raises(SourceChanged, match="changed"):
            invoke(bucket, "incoming/raced.parquet")  # raises: Lambda retries the event
    finally:
        s3_client.cache_clear()
    assert [k for k in keys_in(bucket) if not k.startswith("incoming/")] == []  # no output, no false report
    result = invoke(bucket, "incoming/raced.parquet")  # the retry
    if change == "overwrite":
        assert result["status"] == "scored"
        assert set(predictions(bucket, "scored/raced.parquet.predictions.parquet")) == customers_of(new)
        summary = json.loads(get(bucket, "scored/raced.parquet.summary.json"))
        assert summary["input"]["etag"] == s3_client().head_object(Bucket=bucket, Key="incoming/raced.parquet")[
            "ETag"
        ].strip('"')
    else:
        assert result["error"] == "not_found"


def test_a_version_that_is_gone_is_reported_not_found(versioned_bucket: str, two_files) -> None:
    first = upload(versioned_bucket, "incoming/gone.parquet", two_files[0])
    s3_client().delete_object(Bucket=versioned_bucket, Key="incoming/gone.parquet", VersionId=first["VersionId"])
    result = invoke(versioned_bucket, "incoming/gone.parquet", version_id=first["VersionId"])
    assert result["error"] == "not_found"
