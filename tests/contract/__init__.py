"""The SagaStore contract, run against every backend: memory, SQLite and PostgreSQL."""
