"""`amex-scoring score-dataset`: the dataset job's local mode.

The same plan, shard and reduce functions the ScoreDataset state machine's Lambda tasks
call, run on this machine: shards in `workers` processes (each loads the model once), on
local folders or s3:// URIs. Settings (SHARD_ROWS...) come from the environment, as in Lambda.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

_MODEL: Any = None


def _load(model_uri: str) -> None:
    global _MODEL
    from lambda_function.core.scoring import Model

    _MODEL = Model(model_uri).load()


def _score(item: dict[str, Any], output: str) -> dict[str, Any]:
    from lambda_function.dataset.plan import Shard
    from lambda_function.dataset.shard import score_shard

    summary = score_shard(_MODEL, Shard.from_item(item), output, os.environ.get("CAPTURE_URI") or None)
    return {"shard": summary["shard"], "status": summary["status"]}


def score_dataset(model_uri: str, input_uri: str, output: str, workers: int = 1) -> dict[str, Any]:
    """Plan, score every shard, reduce. Raises JobFailed (after writing _SUMMARY.json) if not all went well."""
    from lambda_function.dataset.plan import plan_dataset, read_shards
    from lambda_function.dataset.reduce import reduce_job
    from lambda_function.settings import Settings

    settings = Settings.from_env()
    _load(model_uri)  # a model that will not load stops the job before anything is written
    plan_dataset(input_uri, output, settings.shard_rows, settings.input_prefix)
    items = [shard.item() for shard in read_shards(output)]
    if workers <= 1:
        for item in items:
            _score(item, output)
    else:
        # Spawned, not forked: a child forked after XGBoost's OpenMP pool started hangs in it.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, spawn, initializer=_load, initargs=(model_uri,)) as pool:
            list(pool.map(_score, items, [output] * len(items)))
    return reduce_job(_MODEL, output)
