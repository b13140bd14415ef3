"""The operator console: queues, outboxes, throughput and dead letters, live."""
