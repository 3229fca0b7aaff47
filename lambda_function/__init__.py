"""The Lambda runtime: everything the container image runs, and nothing it does not need.

`handlers/` holds what template.yaml names, one module per function (`handlers.api.handler` is
the image's CMD); each builds its handler from the package of its concern (`api/`, `batch/`,
`dataset/`, `deploy/`), which use `files/` and `core/`; `settings`, `telemetry` and `s3` are
used by all. Imports point down that list.
"""
