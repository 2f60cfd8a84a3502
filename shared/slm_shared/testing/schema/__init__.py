"""A one-table schema with its own migrations, for testing the migration and readiness plumbing."""

from sqlalchemy import Column, Integer, MetaData, String, Table

metadata = MetaData()
probes = Table("probes", metadata, Column("id", Integer, primary_key=True), Column("name", String(50)))
