"""What every statement-file reader shares: the error a bad file gets, opening, decoding errors
turned into it, read-ahead, required columns, and where a row is in the file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa

T = TypeVar("T")


class InputError(ValueError):
    """The statements file itself is wrong; retrying will not help."""


def input_format(name: str) -> str | None:
    """`parquet`, `csv` or `csv.gz` from a file name or key; None for anything else."""
    lowered = name.lower()
    for suffix in ("parquet", "csv.gz", "csv"):
        if lowered.endswith("." + suffix):
            return suffix
    return None


Opener = Callable[[], Any]  # returns a fresh pyarrow file: random access for Parquet


# What pyarrow raises for bytes it cannot decode. S3 trouble is not among them: the file
# objects read through boto3, whose exceptions pyarrow passes through as they are.
DECODING_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError, EOFError, OSError)


def checked_call(call: Callable[[], Any], what: str = "cannot read the file") -> Any:
    try:
        return call()
    except DECODING_ERRORS as error:
        raise InputError(f"{what}: {error}") from None


def checked(make: Callable[[], Any]) -> Iterator[pa.RecordBatch]:
    iterator = iter(checked_call(make))
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except DECODING_ERRORS as error:
            raise InputError(f"cannot read the file: {error}") from None
        yield batch


def prefetched(items: Iterator[T]) -> Iterator[T]:
    """Make the next item while the caller works on this one: pyarrow decodes (and zlib
    inflates) without the GIL, so one core is not left idle while the other works."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        pending = pool.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = pool.submit(next, items, None)
            yield item


def require(present: list[str], needed: list[str]) -> None:
    missing = [name for name in needed if name not in present]
    if missing:
        raise InputError(f"missing required columns: {', '.join(missing)}")
    twice = [name for name in needed if present.count(name) > 1]
    if twice:  # which one is meant cannot be known
        raise InputError(f"columns appear more than once: {', '.join(twice)}")


def is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def is_text_like(kind: pa.DataType) -> bool:
    """Text, or what some writers store it as: string views, or bytes without the UTF-8 annotation."""
    return is_text(kind) or any(
        test(kind)
        for test in (pa.types.is_string_view, pa.types.is_binary, pa.types.is_large_binary, pa.types.is_binary_view)
    )


def where_in_file(row: int, fmt: str) -> str:
    """A statement row as a reader finds it: a CSV's line (the header is line 1), a Parquet row from 0."""
    return f"row {row}" if fmt == "parquet" else f"line {row + 2}"


def local_opener(path: str | Path) -> Opener:
    # Plain reads, not a memory map: mapped pages of a 10 GB file would count as our memory.
    return lambda: pa.OSFile(str(path), "rb")
