"""Real servers for tests: NATS with JetStream, PostgreSQL, and free loopback ports."""
