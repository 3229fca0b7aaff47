# One image, six Lambda functions: the HTTP API (this CMD); template.yaml gives the others their
# handler in lambda_function/handlers/ (batch, the dataset job's three tasks, the deploy hook).
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

# glibc's malloc, by default, hands arrays of a few MB back to the kernel when they are freed
# (munmap, or trimming the heap), so scoring a file, which makes such numpy arrays batch after
# batch, has the kernel fault in and zero fresh pages for each. Fixed thresholds keep freed
# memory for the next array: mmap only above 32 MiB (the most glibc's own adjustment reaches),
# trim the heap only past 256 MiB free. docs/benchmarks.md measures it ("batch variants").
ENV GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456

CMD ["lambda_function.handlers.api.handler"]
