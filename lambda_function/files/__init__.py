"""Statement files and S3: reading them (CSV, Parquet), scoring one, writing predictions, local or s3:// storage."""
