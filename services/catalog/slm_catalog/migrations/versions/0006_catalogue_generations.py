"""a generation per tenant's catalogue, changed by triggers on every write of the services table

The service list keeps the page bodies it answered, keyed by the tenant's generation: a new generation on every
INSERT, UPDATE and DELETE of a row of `services` (the only table a page's values come from), whoever writes it
(the API, an import, a migration, raw SQL). The generation is a random value (a version-4 UUID's 122 random bits, or 16 random bytes on SQLite), not a counter: a value the
tenant's catalogue never had before, also after a database is restored from a backup or created again.

On PostgreSQL the trigger is a deferred constraint trigger: the generation row is locked at commit, after every
other lock the transaction takes, so writers of one tenant queue there for the last moment of their transaction
and never hold it while they wait for a row another writer holds (no deadlock with `SELECT ... FOR UPDATE`).
A transaction writes its tenant's generation row once, however many of its services it writes: a transaction-local
setting (`slm_catalogue.bumped_<md5 of the tenant>`, gone at commit or rollback) marks the tenants it gave a new
generation already (each write of the one row made the commit of 10,000 written services take seconds, holding the
tenant's generation row all along). The generation rows of several tenants are written in the order their services
were first written: two transactions writing services of the same tenants in opposite orders can deadlock at commit
(only operator scripts and migrations write across tenants; PostgreSQL ends one of them with a deadlock error).

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

# `{schema}`: the schema the migration runs in, quoted. The functions name their table and each other with it and
# run with `search_path` pinned, so a writer's own search_path cannot point them at another table or function.
_POSTGRESQL = [
    """
    CREATE FUNCTION {schema}.catalogue_generation_bump(row_tenant VARCHAR) RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
    DECLARE
        bumped CONSTANT text := 'slm_catalogue.bumped_' || md5(row_tenant);
    BEGIN
        IF current_setting(bumped, true) = 'on' THEN
            RETURN;  -- this transaction gave the tenant a new generation already
        END IF;
        PERFORM set_config(bumped, 'on', true);  -- transaction-local: gone at commit or rollback
        INSERT INTO {schema}.catalogue_generations (tenant, generation)
        VALUES (row_tenant, replace(gen_random_uuid()::text, '-', ''))
        ON CONFLICT (tenant) DO UPDATE SET generation = EXCLUDED.generation;
    END
    $$
    """,
    """
    CREATE FUNCTION {schema}.catalogue_generation_row() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            PERFORM {schema}.catalogue_generation_bump(OLD.tenant);
        END IF;
        IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.tenant IS DISTINCT FROM OLD.tenant) THEN
            PERFORM {schema}.catalogue_generation_bump(NEW.tenant);
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION {schema}.catalogue_generation_truncate() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
    BEGIN
        UPDATE {schema}.catalogue_generations SET generation = replace(gen_random_uuid()::text, '-', '');
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE CONSTRAINT TRIGGER services_catalogue_generation AFTER INSERT OR UPDATE OR DELETE ON {schema}.services
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {schema}.catalogue_generation_row()
    """,
    """
    CREATE TRIGGER services_catalogue_generation_truncate AFTER TRUNCATE ON {schema}.services
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.catalogue_generation_truncate()
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
    bind = op.get_bind()
    dialect = bind.dialect.name
    op.execute(_SEED[dialect])  # tenants with services before the triggers: a generation each
    if dialect == "postgresql":
        current = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
        schema = bind.dialect.identifier_preparer.quote_schema(current)
        for statement in _POSTGRESQL:
            op.execute(statement.replace("{schema}", schema))
    else:
        for statement in _SQLITE:
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
