"""A dataset job's first step: list the input, read every Parquet footer, cut the shards.

Writes the shard list to `<output>/_work/shards.json`, the Distributed Map's item source
(read by its ItemReader: a list of thousands of shards never passes through the state,
whose payload is limited to 256 KiB), and the job's description to `_work/plan.json`.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow.parquet as pq

from lambda_function.files import storage
from lambda_function.files.statements import input_format
from lambda_function.files.storage import StoredFile
from lambda_function.s3 import split_s3_uri

FOOTER_READERS = 32  # footers read at once: each is one small ranged GET, so latency-bound
WORK = "_work"
SHOWN_SKIPPED = 20


class JobError(ValueError):
    """The job as asked cannot run (bad input or output location); nothing was scored."""


@dataclass(frozen=True)
class Shard:
    """One Map item: a whole file, or a range of a Parquet file's row groups."""

    index: int
    file: dict[str, Any]  # StoredFile.describe()
    format: str
    row_groups: tuple[int, int] | None  # None: the whole file
    rows: int | None  # the range's rows (the file's for a whole file); None for CSV
    file_rows: int | None
    footer_error: str | None = None  # the footer could not be read: the shard reports it
    plan: str = ""  # the plan's digest: a summary left by an earlier, different plan is not this one's

    @property
    def split(self) -> bool:
        return self.row_groups is not None

    @property
    def stored(self) -> StoredFile:
        return StoredFile(**self.file)

    def item(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Shard:
        groups = item.get("row_groups")
        return cls(**{**item, "row_groups": tuple(groups) if groups is not None else None})


def work_uri(output: str, *names: str) -> str:
    return storage.join(output, "/".join([WORK, *names]))


# A job's output: the one place its names are made.
def shard_list_uri(output: str) -> str:
    """The Map's item source."""
    return work_uri(output, "shards.json")


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def part_uri(output: str, index: int) -> str:
    return storage.join(output, part_name(index))


def summary_uri(output: str, index: int) -> str:
    return work_uri(output, "shards", f"{index:05d}.json")


def fingerprints_uri(output: str, index: int) -> str:
    return work_uri(output, "ids", f"{index:05d}.u64")


def dataset_files(input_uri: str, keys: list[str] | None = None) -> tuple[list[StoredFile], list[str]]:
    """The statements files of the input (Parquet, CSV, CSV.gz), and the files skipped as not
    data: under a folder, or named, starting with `_` or `.` anywhere below the input."""
    if keys is not None:  # names relative to the input, or whole URIs and paths
        named = [key if "://" in key or key.startswith("/") else storage.join(input_uri, key) for key in keys]
        return [storage.stat(uri) for uri in named], []
    root = input_uri.rstrip("/") + "/"  # a folder: s3://b/in is not also s3://b/in-old/
    found = [file for file in storage.list_files(root) if input_format(file.uri) is not None]
    hidden = {file.uri for file in found if storage.is_hidden(file.uri.removeprefix(root))}
    return [file for file in found if file.uri not in hidden], sorted(hidden)


def _footer_of(file: StoredFile, fmt: str) -> pq.FileMetaData | str | None:
    return _footer(file) if fmt == "parquet" else None


def _footer(file: StoredFile) -> pq.FileMetaData | str:
    """The Parquet footer, or why it cannot be read (the shard then reports it by name)."""
    try:
        with file.opener("parquet")() as source:
            return pq.ParquetFile(source).metadata
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        return f"not a readable Parquet file: {error}"


def cut(file: StoredFile, fmt: str, footer: pq.FileMetaData | str | None, shard_rows: int) -> list[Shard]:
    """Whole files up to `shard_rows` rows; larger Parquet files in ranges of whole row groups.
    The indices are filled in by `plan_dataset`."""
    whole = Shard(-1, file.describe(), fmt, None, None, None)
    if footer is None:  # CSV: not split
        return [whole]
    if isinstance(footer, str):
        return [Shard(-1, file.describe(), fmt, None, None, None, footer_error=footer)]
    total = footer.num_rows
    if total <= shard_rows or footer.num_row_groups <= 1:
        return [Shard(-1, file.describe(), fmt, None, total, total)]
    shards, first, rows = [], 0, 0
    for group in range(footer.num_row_groups):
        group_rows = footer.row_group(group).num_rows
        if rows and rows + group_rows > shard_rows:
            shards.append(Shard(-1, file.describe(), fmt, (first, group), rows, total))
            first, rows = group, 0
        rows += group_rows
    shards.append(Shard(-1, file.describe(), fmt, (first, footer.num_row_groups), rows, total))
    return shards if len(shards) > 1 else [Shard(-1, file.describe(), fmt, None, total, total)]


def check_locations(input_uri: str, output_uri: str, batch_input_prefix: str) -> None:
    """The output neither inside the input nor around it, wherever the spellings point: the same
    folder by another path or through a symlink, the same bucket and prefix written otherwise.
    Checked before anything is written, so a user's input is never overwritten or deleted."""
    into, out = _location(input_uri), _location(output_uri)
    if into[0] == out[0] and (out[1].startswith(into[1]) or into[1].startswith(out[1])):
        raise JobError(f"the output {output_uri} must not be inside the input {input_uri}, nor the input inside it")
    if storage.is_s3(input_uri) and into[1].split("/", 1)[1].startswith(batch_input_prefix):
        raise JobError(
            f"the input {input_uri} is under INPUT_PREFIX {batch_input_prefix!r}: the S3 trigger would also score "
            "each of its files on its own. Put datasets under another prefix (datasets/, for instance)"
        )


def _location(uri: str) -> tuple[str, str]:
    """("s3", "bucket/prefix/") or ("file", "/resolved/path/"): what a location is, not how it is spelt."""
    if storage.is_s3(uri):
        bucket, prefix = split_s3_uri(uri)
        prefix = prefix.rstrip("/")
        return "s3", f"{bucket}/{prefix}/" if prefix else f"{bucket}/"
    return "file", str(Path(uri).resolve()).rstrip("/") + "/"


def plan_dataset(
    input_uri: str, output_uri: str, shard_rows: int, batch_input_prefix: str, keys: list[str] | None = None
) -> dict[str, Any]:
    """Cut the input into shards and write `_work/shards.json` and `_work/plan.json`; returns the plan."""
    check_locations(input_uri, output_uri, batch_input_prefix)
    for marker in ("_SUCCESS", "_SUMMARY.json"):  # an earlier run's: not true of this one until it ends
        storage.delete(storage.join(output_uri, marker))
    files, hidden = dataset_files(input_uri, keys)
    for file in files:  # a named file may lie anywhere, a listed one be a link: never one of the output's
        check_locations(file.uri, output_uri, batch_input_prefix)
    if not files:
        raise JobError(f"no .parquet, .csv or .csv.gz files under {input_uri}")
    formats = [input_format(file.uri) or "" for file in files]
    with ThreadPoolExecutor(FOOTER_READERS) as pool:
        footers = list(pool.map(_footer_of, files, formats))
    cuts = [
        cut(file, fmt, footer, max(1, shard_rows)) for file, fmt, footer in zip(files, formats, footers, strict=True)
    ]
    shards = [replace(shard, index=index) for index, shard in enumerate(s for found in cuts for s in found)]
    digest = hashlib.sha256(json.dumps([shard.item() for shard in shards]).encode()).hexdigest()[:16]
    items = [replace(shard, plan=digest).item() for shard in shards]
    _remove_stale_parts(output_uri, len(shards))
    storage.write_bytes(shard_list_uri(output_uri), json.dumps(items).encode(), "application/json")
    plan = {
        "input": input_uri,
        "output": output_uri,
        "files": len(files),
        "shards": len(shards),
        "rows": sum(footer.num_rows for footer in footers if isinstance(footer, pq.FileMetaData)),
        "shard_rows": shard_rows,
        "skipped_not_data": {"count": len(hidden), "first": hidden[:SHOWN_SKIPPED]},
    }
    storage.write_bytes(work_uri(output_uri, "plan.json"), json.dumps(plan, indent=1).encode(), "application/json")
    return plan


def _remove_stale_parts(output_uri: str, shards: int) -> None:
    """Parts of an earlier run beyond this plan's shards: a reader of `part-*` must not find them."""
    if not storage.exists(output_uri):
        return
    for file in storage.list_files(output_uri):
        name = PurePosixPath(file.uri).name
        if (
            name.startswith("part-")
            and name.endswith(".parquet")
            and name[5:10].isdigit()
            and int(name[5:10]) >= shards
        ):
            storage.delete(file.uri)


def read_shards(output_uri: str) -> list[Shard]:
    data = storage.read_bytes(shard_list_uri(output_uri))
    if data is None:
        raise JobError(f"no plan at {shard_list_uri(output_uri)}: run the plan step first")
    return [Shard.from_item(item) for item in json.loads(data)]
