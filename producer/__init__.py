"""Producer daemon: reads the source API and publishes the events to Pub/Sub, at least once."""
