"""A local Apache Kafka (KRaft, single node) resolved from Maven Central and run on Java 17."""
