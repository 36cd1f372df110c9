"""Spark connectors: a Pub/Sub source for the Python Data Source API."""
