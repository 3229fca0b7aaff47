"""The dataset job's steps on local folders (the local mode): cutting files, customers that
cross shards, what is listed, and the fingerprints of the duplicate check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from amex_scoring.dataset import score_dataset
from amex_scoring.synth import write_synthetic
from lambda_function.core.scoring import Model
from lambda_function.dataset.plan import dataset_files, plan_dataset, read_shards
from lambda_function.dataset.reduce import JobFailed
from lambda_function.dataset.shard import id_fingerprints
from lambda_function.files.file_scoring import score_statements
from lambda_function.files.statements import local_opener


def _predictions(folder: Path) -> dict[str, float]:
    table = pa.concat_tables([pq.read_table(path) for path in sorted(folder.glob("part-*.parquet"))])
    ids = table["customer_ID"].to_pylist()
    assert len(ids) == len(set(ids))
    return dict(zip(ids, table["prediction"].to_pylist(), strict=True))


def test_a_customer_longer_than_a_shard_is_scored_once_by_the_shard_where_it_starts(
    tmp_path: Path, synthetic_model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_synthetic(tmp_path / "some.parquet", 6, seed=3)
    table = pq.read_table(tmp_path / "some.parquet")
    one = table.filter(pa.compute.equal(table["customer_ID"], table["customer_ID"][0]))
    long = pa.concat_tables([one] * 4)  # 4 x its statements, in a row: one customer over many groups
    rest = table.filter(pa.compute.not_equal(table["customer_ID"], table["customer_ID"][0]))
    source = tmp_path / "in"
    source.mkdir()
    ids = rest["customer_ID"].to_pylist()
    cut = next(i for i in range(20, len(ids)) if ids[i] != ids[i - 1])  # between two customers
    pq.write_table(
        pa.concat_tables([rest.slice(0, cut), long, rest.slice(cut)]), source / "f.parquet", row_group_size=3
    )
    monkeypatch.setenv("SHARD_ROWS", "6")
    result = score_dataset(str(synthetic_model.artifacts.directory), str(source), str(tmp_path / "out"))
    shards = {
        json.loads(p.read_text())["shard"]: json.loads(p.read_text())
        for p in (tmp_path / "out" / "_work" / "shards").iterdir()
    }
    assert any(s["customers"] == 0 and s["head_rows"] > 0 for s in shards.values())  # only the long customer's rows
    assert any(s["read_ahead_rows"] >= 6 for s in shards.values())  # read past its end, through the next
    expected = score_statements(synthetic_model, local_opener(source / "f.parquet"), "parquet")
    got = _predictions(tmp_path / "out")
    assert got == dict(zip(*(expected.predictions[k].to_pylist() for k in ("customer_ID", "prediction")), strict=True))
    assert result["rows_read"] == expected.rows_read and result["customers_scored"] == expected.customers


def test_csv_files_are_one_shard_each_and_markers_are_not_inputs(tmp_path: Path, synthetic_model: Model) -> None:
    source = tmp_path / "in"
    write_synthetic(source / "a.parquet", 40, seed=4)
    pacsv.write_csv(pq.read_table(source / "a.parquet"), source / "b.csv")
    for marker in ("_SUCCESS", "._a.parquet.crc", "_committed_123", "notes.txt"):
        (source / marker).write_text("")
    assert [Path(f.uri).name for f in dataset_files(str(source))[0]] == ["a.parquet", "b.csv"]
    plan_dataset(str(source), str(tmp_path / "out"), shard_rows=10, batch_input_prefix="incoming/")
    shards = read_shards(str(tmp_path / "out"))
    assert [(Path(s.file["uri"]).name, s.format, s.split) for s in shards] == [
        ("a.parquet", "parquet", False),
        ("b.csv", "csv", False),
    ]
    # a.parquet has one row group: not split, whatever SHARD_ROWS says


def test_customers_in_two_files_are_found_and_fail_the_job(tmp_path: Path, synthetic_model: Model) -> None:
    source = tmp_path / "in"
    write_synthetic(source / "a.parquet", 30, seed=5)
    table = pq.read_table(source / "a.parquet")
    pq.write_table(table.slice(0, 100), source / "b.parquet")  # the first customers again
    with pytest.raises(JobFailed, match="customers in two parts"):
        score_dataset(str(synthetic_model.artifacts.directory), str(source), str(tmp_path / "out"))
    summary = json.loads((tmp_path / "out" / "_SUMMARY.json").read_text())
    twice = summary["problems"]["customers_in_two_parts"]
    first = sorted(set(table.slice(0, 100)["customer_ID"].to_pylist()))
    assert twice["count"] == len(first) and twice["first"] == first[:5]
    assert not (tmp_path / "out" / "_SUCCESS").exists()


def test_equal_ids_have_equal_fingerprints_and_others_differ() -> None:
    ids = ["a", "b", "", "a", "x" * 300, "é" * 9, "abcdefgh", "abcdefgh\x00", "abcdefgh", "x" * 300]
    prints = id_fingerprints(pa.array(ids)).tolist()
    for i, a in enumerate(ids):
        for j, b in enumerate(ids):
            assert (prints[i] == prints[j]) == (a == b), (a, b)
    sliced = pa.array(["zz", *ids]).slice(1)  # an Arrow slice: offsets that do not start at 0
    assert id_fingerprints(sliced).tolist() == prints
    many = pa.array([f"{i:064x}" for i in range(100_000)])
    assert np.unique(id_fingerprints(many)).size == 100_000
    # A shard whose IDs are all of one length and one with a stray other length must agree on
    # the IDs they share, or the reduce step would miss a customer scored twice.
    uniform = [f"{i:064x}" for i in range(1_000)]
    assert id_fingerprints(pa.array(["x", *uniform])).tolist()[1:] == id_fingerprints(pa.array(uniform)).tolist()
    assert id_fingerprints(pa.array(["y", *uniform]).slice(1)).tolist() == id_fingerprints(pa.array(uniform)).tolist()


def test_a_second_job_into_the_same_output_leaves_nothing_of_the_first(tmp_path: Path, synthetic_model: Model) -> None:
    source = tmp_path / "in"
    for index in range(3):
        write_synthetic(source / f"f{index}.parquet", 20, seed=20 + index)
    model, out = str(synthetic_model.artifacts.directory), tmp_path / "out"
    score_dataset(model, str(source), str(out))
    (source / "f0.parquet").unlink()  # the book changed: two files now, and f1 is shard 0
    result = score_dataset(model, str(source), str(out))
    assert sorted(p.name for p in out.glob("part-*")) == ["part-00000.parquet", "part-00001.parquet"]
    expected = {}
    for name in ("f1.parquet", "f2.parquet"):
        scored = score_statements(synthetic_model, local_opener(source / name), "parquet")
        expected.update(zip(*(scored.predictions[k].to_pylist() for k in ("customer_ID", "prediction")), strict=True))
    assert _predictions(out) == expected and result["customers_scored"] == len(expected)
