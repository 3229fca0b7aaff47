"""The ScoreDataset state machine's three task functions (template.yaml: PlanDatasetFunction,
ScoreShardFunction, ReduceDatasetFunction): one image, one module, a handler each."""

from __future__ import annotations

from lambda_function.core.scoring import load_for_handler
from lambda_function.dataset.job import task_handlers

_TASKS = task_handlers(load_for_handler())
plan_handler, shard_handler, reduce_handler = _TASKS["plan"], _TASKS["shard"], _TASKS["reduce"]
