"""The HTTP function (template.yaml: ScoreApiFunction): the model loads once per container, here."""

from __future__ import annotations

import gc

from lambda_function.api.app import HttpHandler
from lambda_function.core.scoring import load_for_handler

HTTP = HttpHandler(load_for_handler())
asgi_app = HTTP.asgi_app  # for `amex-scoring serve`
handler = HTTP.handler
# Garbage collection, tuned for a process that imports once and then serves requests:
# - everything built so far lives as long as the container; frozen, it stays out of full
#   passes, which otherwise walk some 150,000 import-time objects and made the slowest
#   1000-customer requests several times slower;
# - a request allocates tens of thousands of short-lived dicts and lists that reference
#   counting frees; young-generation passes every 700 of them found nothing to collect,
#   at a measurable share of a large request. Every 50,000 instead.
gc.freeze()
gc.set_threshold(50_000, 20, 100)
