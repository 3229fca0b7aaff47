# One image, two Lambda functions: the HTTP API (this CMD) and the S3 batch scorer
# (template.yaml overrides the command with lambda_function.batch.handler).
# Amazon Linux 2023 base: xgboost 3 wheels need its glibc.
FROM public.ecr.aws/lambda/python:3.12

# Runtime dependencies only, pinned with hashes (regenerate with `make lock`):
# xgboost-cpu, numpy, pyarrow, fastapi, pydantic, msgspec, mangum, boto3, aws-lambda-powertools.
# --no-deps: exactly the lock, which leaves out SciPy (the xgboost package's, never imported).
COPY requirements/runtime.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --require-hashes --only-binary=:all: --no-deps \
        -r /tmp/requirements.txt --target "${LAMBDA_TASK_ROOT}" \
    && rm /tmp/requirements.txt

COPY lambda_function/ ${LAMBDA_TASK_ROOT}/lambda_function/
COPY model/ ${LAMBDA_TASK_ROOT}/model/

# /var/task is read-only at run time: compile the bytecode now, not at every cold start.
RUN python -m compileall -q "${LAMBDA_TASK_ROOT}"

CMD ["lambda_function.api.handler"]
