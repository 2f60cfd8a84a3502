"""a generation per tenant's catalogue, changed by triggers on every write of the services table

The service list keeps the page bodies it answered, keyed by the tenant's generation: a new generation on every
INSERT, UPDATE and DELETE of a row of `services` (the only table a page's values come from), whoever writes it
(the API, an import, a migration, raw SQL). The generation is a random value (a version-4 UUID's 122 random bits, or 16 random bytes on SQLite), not a counter: a value the
tenant's catalogue never had before, also after a database is restored from a backup or created again.

On PostgreSQL the trigger is a deferred constraint trigger: the generation row is locked at commit, after every
other lock the transaction takes, so writers of one tenant queue there for the last moment of their transaction
and never hold it while they wait for a row another writer holds (no deadlock with `SELECT ... FOR UPDATE`).

A later migration that rebuilds the services table (SQLite's batch mode copies it to a new table and drops the
old one, its triggers with it) must create these triggers again: `test_kept_service_pages.py` writes the table
at the head revision and checks that every write changed the generation, on SQLite and PostgreSQL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 06:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_POSTGRESQL = [
    """
    CREATE FUNCTION catalogue_generation_bump(row_tenant VARCHAR) RETURNS void LANGUAGE sql AS $$
        INSERT INTO catalogue_generations (tenant, generation) VALUES (row_tenant, replace(gen_random_uuid()::text, '-', ''))
        ON CONFLICT (tenant) DO UPDATE SET generation = EXCLUDED.generation
    $$
    """,
    """
    CREATE FUNCTION catalogue_generation_row() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            PERFORM catalogue_generation_bump(OLD.tenant);
        END IF;
        IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.tenant IS DISTINCT FROM OLD.tenant) THEN
            PERFORM catalogue_generation_bump(NEW.tenant);
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION catalogue_generation_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE catalogue_generations SET generation = replace(gen_random_uuid()::text, '-', '');
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE CONSTRAINT TRIGGER services_catalogue_generation AFTER INSERT OR UPDATE OR DELETE ON services
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION catalogue_generation_row()
    """,
    """
    CREATE TRIGGER services_catalogue_generation_truncate AFTER TRUNCATE ON services
    FOR EACH STATEMENT EXECUTE FUNCTION catalogue_generation_truncate()
    """,
]

_SQLITE_BUMP = """
    INSERT INTO catalogue_generations (tenant, generation) VALUES ({row}.tenant, lower(hex(randomblob(16))))
    ON CONFLICT (tenant) DO UPDATE SET generation = excluded.generation;
"""
_SQLITE = [
    f"""
    CREATE TRIGGER services_catalogue_generation_insert AFTER INSERT ON services FOR EACH ROW BEGIN
    {_SQLITE_BUMP.format(row="NEW")}
    END
    """,
    f"""
    CREATE TRIGGER services_catalogue_generation_update AFTER UPDATE ON services FOR EACH ROW BEGIN
    {_SQLITE_BUMP.format(row="OLD")}
    {_SQLITE_BUMP.format(row="NEW")}
    END
    """,
    f"""
    CREATE TRIGGER services_catalogue_generation_delete AFTER DELETE ON services FOR EACH ROW BEGIN
    {_SQLITE_BUMP.format(row="OLD")}
    END
    """,
]
_SEED = {
    "postgresql": "INSERT INTO catalogue_generations (tenant, generation)"
    " SELECT tenant, replace(gen_random_uuid()::text, '-', '') FROM (SELECT DISTINCT tenant FROM services) AS tenants",
    "sqlite": "INSERT INTO catalogue_generations (tenant, generation)"
    " SELECT tenant, lower(hex(randomblob(16))) FROM (SELECT DISTINCT tenant FROM services) AS tenants",
}


def upgrade() -> None:
    op.create_table(
        "catalogue_generations",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("tenant"),
    )
    dialect = op.get_bind().dialect.name
    op.execute(_SEED[dialect])  # tenants with services before the triggers: a generation each
    for statement in _POSTGRESQL if dialect == "postgresql" else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER services_catalogue_generation_truncate ON services")
        op.execute("DROP TRIGGER services_catalogue_generation ON services")
        for function in ("catalogue_generation_truncate()", "catalogue_generation_row()", "catalogue_generation_bump(VARCHAR)"):
            op.execute(f"DROP FUNCTION {function}")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER services_catalogue_generation_{event}")
    op.drop_table("catalogue_generations")
