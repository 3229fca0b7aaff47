"""The S3 batch function: an uploaded statements file in, predictions and a summary (or an error report) out."""
