"""The read side: ClickHouse schema, projectors fed only by the log, and the queries over them."""
