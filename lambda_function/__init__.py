"""The Lambda runtime: everything the container image runs, and nothing it does not need.

Handlers: `lambda_function.handlers.api.handler` (HTTP, the image's CMD) and
`lambda_function.handlers.batch.handler` (S3 batch, set in template.yaml).
"""
