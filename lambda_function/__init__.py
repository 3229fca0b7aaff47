"""The Lambda runtime: everything the container image runs, and nothing it does not need.

Handlers: `lambda_function.api.handler` (HTTP, the image's CMD) and
`lambda_function.batch.handler` (S3 batch, set in template.yaml).
"""
