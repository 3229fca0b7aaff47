"""Where capture records go: Parquet files under a prefix, or an Amazon Data Firehose stream.

Both land in the same layout, `<prefix>/date=YYYY-MM-DD/<name>.parquet` (template.yaml:
CaptureStream writes there from HTTP records; the file functions and every local command
write there themselves), so one Glue table and the monitor read them all.

Nothing is dropped silently: records Firehose refuses are retried, and those still refused,
or a stream that cannot be reached, are written to the log, one line per record with the
record itself (`capture undelivered`), with the metric `CaptureRecordsUndelivered` that an
alarm watches (template.yaml: CaptureUndeliveredAlarm). The score has already been answered.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import uuid
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lambda_function.files.storage import join, write_bytes
from lambda_function.telemetry import SERVICE, emit, logger

UNDELIVERED_METRIC = "CaptureRecordsUndelivered"
# PutRecordBatch's limits: 500 records and 4 MiB a call, 1,000 KiB a record.
BATCH_RECORDS, BATCH_BYTES, RECORD_BYTES = 500, 4 * 2**20, 1000 * 2**10
ATTEMPTS = 3


FIREHOSE = "firehose:"  # a destination naming a delivery stream: firehose:NAME


@functools.lru_cache(maxsize=8)
def sink_for(destination: str) -> CaptureSink:
    """`firehose:NAME`, an s3:// prefix, or a local folder."""
    if destination.startswith(FIREHOSE):
        return FirehoseSink(destination.removeprefix(FIREHOSE))
    return FolderSink(destination)


class CaptureSink(Protocol):
    def write(self, table: pa.Table, name: str) -> None:
        """Deliver the records; `name` says where they came from (a file's name stem)."""


class FolderSink:
    """Parquet files under a local folder or an s3:// prefix, one per call and date."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def write(self, table: pa.Table, name: str) -> None:
        dates = table["captured_at"].cast(pa.timestamp("ms")).cast(pa.date32())  # the UTC day
        for day in sorted(pc.unique(dates).to_pylist()):
            rows = table.filter(pc.equal(dates, day))
            buffer = io.BytesIO()
            pq.write_table(rows, buffer, compression="snappy")
            write_bytes(self.file_uri(day, name), buffer.getvalue(), "application/vnd.apache.parquet")

    def file_uri(self, day: dt.date, name: str) -> str:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        return join(self.uri, f"date={day.isoformat()}/{name}-{stamp}-{uuid.uuid4().hex[:12]}.parquet")


class FirehoseSink:
    """JSON records to a Firehose stream, which converts them to Parquet with the Glue table's schema."""

    def __init__(self, stream: str) -> None:
        import boto3
        from botocore.config import Config

        self.stream = stream
        # Short timeouts: the records are sent after the answer, but the invocation (and the next
        # one) waits for them; a stream out of reach is reported in the log after seconds, not minutes.
        config = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})
        self.client = boto3.client("firehose", config=config)

    def write(self, table: pa.Table, name: str) -> None:
        lines = [line + "\n" for line in record_lines(table)]
        undelivered: list[str] = []
        for batch in _batches(lines):
            undelivered += self._put(batch)
        if undelivered:
            report_undelivered(undelivered, f"firehose stream {self.stream} refused them")

    def _put(self, lines: list[str]) -> list[str]:
        """Send, resending what Firehose refused; return what it still refused."""
        pending = lines
        for _ in range(ATTEMPTS):
            try:
                answer = self.client.put_record_batch(
                    DeliveryStreamName=self.stream, Records=[{"Data": line.encode()} for line in pending]
                )
            except Exception as error:  # unreachable, throttled past retries, no permission
                logger.error("capture delivery failed", extra={"stream": self.stream, "reason": str(error)})
                return pending
            if not answer.get("FailedPutCount"):
                return []
            pending = [
                line for line, result in zip(pending, answer["RequestResponses"], strict=True) if "ErrorCode" in result
            ]
        return pending


def json_records(table: pa.Table) -> list[dict[str, Any]]:
    """The records as Firehose's JSON: maps as objects, times as Hive's text, dates as ISO text."""
    records: list[dict[str, Any]] = table.to_pylist()
    for record in records:
        record["captured_at"] = record["captured_at"].strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        if record["statement_date"] is not None:
            record["statement_date"] = record["statement_date"].isoformat()
        for key in ("received_numeric", "received_category", "used_numeric", "used_category"):
            if record[key] is not None:
                record[key] = dict(record[key])
    return records


def _batches(lines: list[str]) -> list[list[str]]:
    batches: list[list[str]] = [[]]
    size = 0
    for line in lines:
        length = len(line.encode())
        if length > RECORD_BYTES:
            report_undelivered([line], f"a record of {length} bytes is over Firehose's {RECORD_BYTES}-byte limit")
            continue
        if len(batches[-1]) == BATCH_RECORDS or size + length > BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(line)
        size += length
    return [batch for batch in batches if batch]


def deliver_or_log(destination: str, table: pa.Table, name: str) -> str:
    """Deliver; on failure the records go to the log with the metric. "written" or "failed"."""
    try:
        sink_for(destination).write(table, name)
        return "written"
    except Exception as error:
        logger.error("capture delivery failed", extra={"destination": destination, "reason": str(error)})
        report_undelivered(record_lines(table), str(error))
        return "failed"


def record_lines(table: pa.Table) -> list[str]:
    """One JSON line per record (no newline): what Firehose receives, and what the log keeps."""
    return [json.dumps(record, separators=(",", ":"), default=str) for record in json_records(table)]


def report_undelivered(lines: list[str], reason: str) -> None:
    """The records themselves into the log (recoverable from CloudWatch Logs), and the metric."""
    for line in lines:
        logger.error("capture undelivered", extra={"reason": reason, "record": line.rstrip("\n")})
    emit({UNDELIVERED_METRIC: [float(len(lines))]}, {UNDELIVERED_METRIC: "Count"}, {"service": SERVICE})
