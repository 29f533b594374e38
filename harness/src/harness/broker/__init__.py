"""A local single-node Apache Kafka (KRaft) broker fetched from Maven Central."""
