"""Structured logs and CloudWatch EMF metrics (aws-lambda-powertools), shared by both handlers.

Logs carry request ids or bucket/key, never feature values or customer IDs.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "amex-scoring")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "AmexScoring")

__all__ = ["logger", "metrics", "MetricUnit", "count_rejection"]


class _CurrentStdout(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to sys.stdout as it is at each record, so a replaced stdout still gets the logs."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


logger = Logger(service=SERVICE, logger_handler=_CurrentStdout())
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def count_rejection(reason: str) -> None:
    """One `RejectedRequests` data point with a `reason` dimension, emitted at once."""
    with single_metric(
        name="RejectedRequests",
        unit=MetricUnit.Count,
        value=1,
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE},
    ) as metric:
        metric.add_dimension(name="reason", value=reason)
