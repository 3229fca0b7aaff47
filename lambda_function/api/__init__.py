"""The HTTP function: the FastAPI app (/v1, the legacy /predict, the Open Inference Protocol), its
Lambda adapter, request parsing, answers.
"""
