"""Streaming job: Pub/Sub -> Spark Structured Streaming -> Parquet on Cloud Storage + BigQuery."""
