"""Kafka write-side adapters: the topic catalog and the acknowledged event log."""
