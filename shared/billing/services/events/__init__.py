"""The event log's use cases: sequencing committed events and reading them for streams and webhooks."""
