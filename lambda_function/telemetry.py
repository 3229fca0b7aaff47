"""Structured logs and CloudWatch EMF metrics (aws-lambda-powertools), shared by both handlers.

Logs carry request ids or bucket/key, never feature values or full customer IDs.
"""

from __future__ import annotations

import hashlib
import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "amex-scoring")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "AmexScoring")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

__all__ = ["logger", "metrics", "MetricUnit", "customer_ref"]


def customer_ref(customer_id: str) -> str:
    """A short, stable stand-in for a customer ID in logs."""
    return hashlib.sha256(customer_id.encode()).hexdigest()[:12]
