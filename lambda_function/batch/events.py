"""The S3 objects an event names: S3 notifications, alone or inside SQS or SNS, and EventBridge.

One function per event source, in the spirit of Mangum's handlers; nothing here reads S3.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from lambda_function.telemetry import logger


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    version_id: str | None = None  # the version the event announced, in a versioned bucket


def objects_in(event: dict[str, Any]) -> list[S3Object]:
    """The objects an S3 notification (or EventBridge "Object Created") event names."""
    if event.get("detail-type") == "Object Created" and "detail" in event:
        return [_from_eventbridge(event["detail"])]
    found = []
    for record in event.get("Records") or []:
        wrapped = _unwrap(record)  # S3 -> SQS -> Lambda, or S3 -> SNS -> Lambda
        if wrapped is not None:
            found.extend(objects_in(wrapped))
        elif record.get("eventSource") == "aws:s3" and str(record.get("eventName", "")).startswith("ObjectCreated"):
            found.append(_from_notification(record["s3"]))
        else:
            logger.info(
                "skipping record",
                extra={"event_source": record.get("eventSource"), "event_name": record.get("eventName")},
            )
    return found


def _from_eventbridge(detail: dict[str, Any]) -> S3Object:
    # EventBridge keys are not URL-encoded.
    obj = detail["object"]
    return S3Object(detail["bucket"]["name"], obj["key"], obj.get("version-id") or None)


def _from_notification(s3: dict[str, Any]) -> S3Object:
    # Notification keys are form-encoded: `+` is a space, `%2B` a plus.
    obj = s3["object"]
    return S3Object(s3["bucket"]["name"], unquote_plus(obj["key"]), obj.get("versionId") or None)


def _unwrap(record: dict[str, Any]) -> dict[str, Any] | None:
    """The S3 event inside an SQS message body or an SNS message, if the record is one."""
    if record.get("eventSource") == "aws:sqs":
        text = record.get("body")
    elif record.get("EventSource") == "aws:sns":
        text = (record.get("Sns") or {}).get("Message")
    else:
        return None
    inner = _json_object(text, record)
    if inner.get("Type") == "Notification" and isinstance(inner.get("Message"), str):
        # S3 -> SNS -> SQS without raw message delivery: the body is SNS's envelope.
        inner = _json_object(inner["Message"], record)
    return inner


def _json_object(text: str | None, record: dict[str, Any]) -> dict[str, Any]:
    try:
        inner = json.loads(text or "")
    except ValueError:
        logger.warning("skipping a message that is not JSON", extra={"event_source": record.get("eventSource")})
        return {}
    return inner if isinstance(inner, dict) else {}
