"""Local infrastructure: the single-node Kafka broker and its jars."""
