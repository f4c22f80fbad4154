"""Events: CloudEvents built into the outbox, a relay to Kafka, an idempotent consumer."""
