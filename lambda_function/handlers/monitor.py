"""The monitor function (template.yaml: MonitorFunction): the model loads once per container, here."""

from __future__ import annotations

from lambda_function.core.scoring import load_for_handler
from lambda_function.monitoring.job import monitor_handler

handler = monitor_handler(load_for_handler())
