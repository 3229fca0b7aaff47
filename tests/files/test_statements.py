"""Reading statement files as they come: the same customers score alike whatever the column types."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from lambda_function.core.scoring import Model
from lambda_function.files import csv_reader, file_scoring, statements
from lambda_function.files.file_scoring import score_statements
from lambda_function.files.statements import InputError, local_opener


def _set(table: pa.Table, name: str, make: Callable[[pa.ChunkedArray], pa.Array]) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, make(table[name]))


def _dates(unit: str) -> Callable[[pa.ChunkedArray], pa.Array]:
    return lambda c: pc.strptime(c, format="%Y-%m-%d", unit=unit)


VARIANTS: dict[str, Callable[[pa.Table], pa.Table]] = {
    "S_2 as timestamp[ns]": lambda t: _set(t, "S_2", _dates("ns")),
    "S_2 as date32": lambda t: _set(t, "S_2", lambda c: pc.cast(_dates("s")(c), pa.date32())),
    "S_2 with a time of day": lambda t: _set(t, "S_2", lambda c: pc.binary_join_element_wise(c, " 00:00:00", "")),
    "customer_ID as large_string": lambda t: _set(t, "customer_ID", lambda c: pc.cast(c, pa.large_string())),
    "customer_ID dictionary-encoded": lambda t: _set(t, "customer_ID", pc.dictionary_encode),
    "customer_ID as string_view": lambda t: _set(t, "customer_ID", lambda c: pc.cast(c, pa.string_view())),
    # Writers that drop Parquet's UTF-8 annotation store text as plain bytes.
    "customer_ID as binary": lambda t: _set(t, "customer_ID", lambda c: pc.cast(c, pa.binary())),
    "D_63 as large_binary": lambda t: _set(t, "D_63", lambda c: pc.cast(c, pa.large_binary())),
    "S_2 as binary": lambda t: _set(t, "S_2", lambda c: pc.cast(c, pa.binary())),
    "D_63 dictionary-encoded": lambda t: _set(t, "D_63", pc.dictionary_encode),
    "D_64 as large_string": lambda t: _set(t, "D_64", lambda c: pc.cast(c, pa.large_string())),
    "B_30 as float64": lambda t: _set(t, "B_30", lambda c: pc.cast(c, pa.float64())),
    "B_30 as text": lambda t: _set(t, "B_30", lambda c: pc.cast(c, pa.string())),
    "D_48 as float64": lambda t: _set(t, "D_48", lambda c: pc.cast(c, pa.float64())),
}


def _score(model: Model, table: pa.Table, path: Path) -> dict[str, float]:
    pq.write_table(table, path)
    scored = score_statements(model, local_opener(path), "parquet")
    return dict(
        zip(scored.predictions["customer_ID"].to_pylist(), scored.predictions["prediction"].to_pylist(), strict=True)
    )


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_column_type_variants_score_alike(
    synthetic_model: Model, statements_file: Path, tmp_path: Path, variant: str
) -> None:
    table = pq.read_table(statements_file)
    assert _score(synthetic_model, VARIANTS[variant](table), tmp_path / "v.parquet") == _score(
        synthetic_model, table, tmp_path / "base.parquet"
    )


def test_integer_codes_match_float_codes(synthetic_model: Model, statements_file: Path, tmp_path: Path) -> None:
    table = _set(pq.read_table(statements_file), "B_38", lambda c: pc.fill_null(c, 2.0))
    as_int = _set(table, "B_38", lambda c: pc.cast(c, pa.int64()))
    assert _score(synthetic_model, as_int, tmp_path / "i.parquet") == _score(
        synthetic_model, table, tmp_path / "f.parquet"
    )


def test_many_small_batches_give_what_one_batch_gives(
    synthetic_model: Model, statements_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tiny batches force many merges of the running per-customer state; the result is unchanged.
    (What this buys, memory that follows customers, is measured by `make bench`.)"""
    table = pq.read_table(statements_file)
    expected = _score(synthetic_model, table, tmp_path / "a.parquet")
    monkeypatch.setattr(statements, "BATCH_ROWS", 64)
    monkeypatch.setattr(file_scoring, "SCORE_CHUNK", 50)
    assert _score(synthetic_model, table, tmp_path / "b.parquet") == expected


def test_row_groups_read_whole_or_in_batches_score_alike(
    synthetic_model: Model, statements_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row groups of a usual size are read whole, larger ones in batches: one file, cut into row
    groups of several sizes, scores the same customers the same either way, order included."""
    from lambda_function.files import row_ranges

    path = tmp_path / "groups.parquet"
    pq.write_table(pq.read_table(statements_file), path, row_group_size=97)

    def scores() -> list[tuple[str, float]]:
        scored = score_statements(synthetic_model, local_opener(path), "parquet")
        ids, scores = scored.predictions["customer_ID"].to_pylist(), scored.predictions["prediction"].to_pylist()
        return list(zip(ids, scores, strict=True))

    whole = scores()
    monkeypatch.setattr(row_ranges, "WHOLE_ROW_GROUP_ROWS", 50)  # every group now larger: batches
    monkeypatch.setattr(statements, "BATCH_ROWS", 40)
    assert scores() == whole and len(whole) == len({customer for customer, _ in whole})


def test_an_all_null_column_is_imputed(synthetic_model: Model, statements_file: Path, tmp_path: Path) -> None:
    table = _set(pq.read_table(statements_file), "D_66", lambda c: pa.nulls(len(c)))
    assert len(_score(synthetic_model, table, tmp_path / "n.parquet")) == 300


def test_non_finite_values_skip_the_customer_and_say_why(
    synthetic_model: Model, statements_file: Path, tmp_path: Path
) -> None:
    table = pq.read_table(statements_file)
    latest_row = table.num_rows - 1  # the last customer's latest statement
    values = table["D_48"].to_pylist()
    values[latest_row] = float("inf")
    path = tmp_path / "inf.parquet"
    pq.write_table(_set(table, "D_48", lambda c: pa.array(values, pa.float32())), path)
    scored = score_statements(synthetic_model, local_opener(path), "parquet")
    assert scored.customers == 299 and scored.skipped == {"non-finite value in D_48": 1}
    assert table["customer_ID"][latest_row].as_py() not in scored.predictions["customer_ID"].to_pylist()


def test_a_csv_with_text_in_a_number_column_names_it(synthetic_model: Model, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    header = ["customer_ID", "S_2", *synthetic_model.inputs]
    row = ["abc", "2018-01-01", *["1.0"] * len(synthetic_model.inputs)]
    row[header.index("D_48")] = "lots"
    path.write_text(",".join(header) + "\n" + ",".join(row) + "\n")
    with pytest.raises(InputError, match="D_48"):
        score_statements(synthetic_model, local_opener(path), "csv")


def test_bytes_that_are_not_utf8_name_the_column(synthetic_model: Model, statements_file: Path, tmp_path: Path) -> None:
    table = pq.read_table(statements_file)
    ids = [value.encode() for value in table["customer_ID"].to_pylist()]
    ids[7] = b"\xff\xfe not text"
    path = tmp_path / "bytes.parquet"
    pq.write_table(_set(table, "customer_ID", lambda c: pa.array(ids, pa.binary())), path)
    with pytest.raises(InputError, match="column customer_ID: not UTF-8 text"):
        score_statements(synthetic_model, local_opener(path), "parquet")


def test_a_csv_with_a_byte_order_mark_scores_like_one_without(
    synthetic_model: Model, statements_file: Path, tmp_path: Path
) -> None:
    import pyarrow.csv as pacsv

    plain = tmp_path / "plain.csv"
    pacsv.write_csv(pq.read_table(statements_file), plain)
    marked = tmp_path / "marked.csv"  # as spreadsheet "CSV UTF-8" exports write it
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    expected = score_statements(synthetic_model, local_opener(plain), "csv").predictions
    assert score_statements(synthetic_model, local_opener(marked), "csv").predictions.equals(expected)


def test_a_file_that_is_not_the_csv_its_name_says_gets_a_hint(
    synthetic_model: Model, statements_file: Path, tmp_path: Path
) -> None:
    """A gzip or Parquet file named .csv, a semicolon, tab or UTF-16 export: said so, not "missing customer_ID"."""
    import gzip

    import pyarrow.csv as pacsv

    plain = tmp_path / "plain.csv"
    pacsv.write_csv(pq.read_table(statements_file).slice(0, 50), plain)
    text = plain.read_bytes()
    cases = {
        "the file is gzip-compressed: name it .csv.gz": gzip.compress(text),
        "the file is Parquet, not CSV: name it .parquet": statements_file.read_bytes(),
        "separated by commas, not semicolons": text.replace(b",", b";"),
        "separated by commas, not tabs": text.replace(b",", b"\t"),
        "the file is UTF-16 text: save it as UTF-8 CSV": text.decode().encode("utf-16"),
    }
    for message, content in cases.items():
        path = tmp_path / "upload.csv"
        path.write_bytes(content)
        with pytest.raises(InputError, match=message):
            score_statements(synthetic_model, local_opener(path), "csv")


def test_a_needed_column_that_appears_twice_is_refused(
    synthetic_model: Model, statements_file: Path, tmp_path: Path
) -> None:
    table = pq.read_table(statements_file)
    twice = pa.Table.from_arrays([*table.columns, table["D_48"]], names=[*table.column_names, "D_48"])
    path = tmp_path / "twice.parquet"
    pq.write_table(twice, path)
    with pytest.raises(InputError, match="columns appear more than once: D_48"):
        score_statements(synthetic_model, local_opener(path), "parquet")


def test_csv_errors_name_the_line_a_reader_finds(synthetic_model: Model, statements_file: Path, tmp_path: Path) -> None:
    import pyarrow.csv as pacsv

    table = pq.read_table(statements_file).slice(0, 10)
    dates = table["S_2"].to_pylist()
    dates[3] = "2018-02-30"  # the fourth statement: line 5, after the header
    path = tmp_path / "bad.csv"
    pacsv.write_csv(table.set_column(1, "S_2", pa.array(dates, pa.string())), path)
    with pytest.raises(InputError, match=r"^column S_2 line 5: '2018-02-30' is not a date YYYY-MM-DD"):
        score_statements(synthetic_model, local_opener(path), "csv")


def test_csv_parse_errors_name_the_line_past_the_first_chunk(
    synthetic_model: Model, statements_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyarrow's own errors (a row with one value too many, text in a number column) say the
    line a text editor shows, also in a chunk after the first, and the column by its name."""
    import pyarrow.csv as pacsv

    monkeypatch.setattr(csv_reader, "CSV_CHUNK_BYTES", 16_384)  # a few rows per chunk
    plain = tmp_path / "plain.csv"
    pacsv.write_csv(pq.read_table(statements_file).slice(0, 200), plain)
    lines = plain.read_text().splitlines()
    header = [name.strip('"') for name in lines[0].split(",")]
    assert len(plain.read_bytes()) > 5 * 16_384  # the damaged line is chunks away from the start

    extra = [*lines[:150], lines[150] + ",1.0", *lines[151:]]  # line 151
    path = tmp_path / "extra.csv"
    path.write_text("\n".join(extra) + "\n")
    with pytest.raises(InputError, match=rf"^cannot read the file: line 151: Expected {len(header)} columns, got "):
        score_statements(synthetic_model, local_opener(path), "csv")

    cells = lines[120].split(",")
    cells[header.index("D_48")] = "lots"
    text = [*lines[:120], ",".join(cells), *lines[121:]]  # line 121
    path.write_text("\n".join(text) + "\n")
    message = r"^cannot read the file: column D_48 line 121: CSV conversion error to double: invalid value 'lots'$"
    with pytest.raises(InputError, match=message):
        score_statements(synthetic_model, local_opener(path), "csv")


def test_a_blank_id_is_blank_as_python_strips_it() -> None:
    """The file path's blank-ID check and the HTTP API's `str.strip` agree on every character."""
    from lambda_function.files.checks import bad_ids as _bad_ids

    characters = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    bad = _bad_ids(pa.array(characters))
    assert [c for c, b in zip(characters, bad.tolist(), strict=True) if b != (not c.strip())] == []
    assert _bad_ids(pa.array(["", None, " a ", "x" * 257, "x" * 256])).tolist() == [True, True, False, True, False]
