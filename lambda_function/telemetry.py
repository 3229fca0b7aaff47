"""Structured logs (aws-lambda-powertools) and CloudWatch EMF metrics, shared by both handlers.

Logs carry request ids or bucket/key, never feature values or customer IDs.
"""

from __future__ import annotations

import enum
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "amex-scoring")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "AmexScoring")
MAX_VALUES = 100  # EMF's limit of values per metric in one line

__all__ = ["logger", "metrics", "MetricUnit", "count_rejection"]

Handler = TypeVar("Handler", bound=Callable[..., Any])


class _CurrentStdout(logging.StreamHandler[Any]):
    """Writes to sys.stdout as it is at each record, so a replaced stdout still gets the logs."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


class MetricUnit(enum.StrEnum):
    Count = "Count"
    Milliseconds = "Milliseconds"
    Seconds = "Seconds"
    NoUnit = "None"


def emit(values: dict[str, list[float]], units: dict[str, str], dimensions: dict[str, str]) -> None:
    """One line of CloudWatch's embedded metric format on stdout, which Lambda sends to CloudWatch Logs.

    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
    Nothing is written when POWERTOOLS_METRICS_DISABLED is true, as powertools' own `Metrics` does.
    """
    if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").strip().lower() in ("1", "true", "yes", "on"):
        return
    declaration = {
        "Namespace": NAMESPACE,
        "Dimensions": [list(dimensions)],
        "Metrics": [{"Name": name, "Unit": units[name]} for name in values],
    }
    line = {"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [declaration]}, **dimensions, **values}
    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")


class Metrics:
    """A handler's metrics, written as one EMF line when the invocation ends.

    Written here rather than with powertools' `Metrics`, whose checks and serialisation are a
    visible share of a one-customer request ("What each departure from the idiom buys" in
    docs/benchmarks.md). Same lines, same names.
    """

    def __init__(self) -> None:
        self._values: dict[str, list[float]] = {}
        self._units: dict[str, str] = {}
        self._cold_start = True

    def add_metric(self, name: str, unit: MetricUnit, value: float) -> None:
        self._units[name] = unit.value
        values = self._values.setdefault(name, [])
        values.append(float(value))
        if len(values) == MAX_VALUES:
            self.flush()

    def flush(self) -> None:
        if self._values:
            emit(self._values, self._units, {"service": SERVICE})
        self._values, self._units = {}, {}

    def log_metrics(self, handler: Handler) -> Handler:
        """Decorates a Lambda handler: a `ColdStart` count on the first invocation, every metric at the end."""

        @functools.wraps(handler)
        def invoke(event: Any, context: Any) -> Any:
            if self._cold_start:
                self._cold_start = False
                function = {"function_name": str(getattr(context, "function_name", "")), "service": SERVICE}
                emit({"ColdStart": [1.0]}, {"ColdStart": "Count"}, function)
            try:
                return handler(event, context)
            finally:
                self.flush()

        return invoke  # type: ignore[return-value]


logger = Logger(service=SERVICE, logger_handler=_CurrentStdout())
metrics = Metrics()


def count_rejection(reason: str) -> None:
    """One `RejectedRequests` data point with a `reason` dimension, emitted at once."""
    emit({"RejectedRequests": [1.0]}, {"RejectedRequests": "Count"}, {"service": SERVICE, "reason": reason})
