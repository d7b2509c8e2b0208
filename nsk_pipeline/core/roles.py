"""The analyst role on PostgreSQL: a login that can read `marts` and nothing else."""

from __future__ import annotations

import re

import sqlalchemy as sa

from nsk_pipeline.core.warehouse import SCHEMAS, Warehouse

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def ensure_analyst_role(wh: Warehouse, role: str, password: str | None = None) -> None:
    """Create or update `role` (idempotent): LOGIN, SELECT on every table and view in `marts`,
    also those created later; no access to staging, quarantine or meta."""
    if wh.dialect != "postgresql":
        raise ValueError("the analyst role is a PostgreSQL feature; DuckDB files have no roles "
                         "(share a read-only copy of the file instead)")
    if not _NAME.match(role):
        raise ValueError("role name must be lower-case letters, digits and underscores")
    with wh.transaction() as conn:
        wh.ensure_schemas(conn)
        exists = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
        verb = "ALTER" if exists else "CREATE"
        if password:
            pw = conn.execute(sa.text("SELECT quote_literal(:p)"), {"p": password}).scalar()
            conn.execute(sa.text(f'{verb} ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {pw}'))
        else:
            conn.execute(sa.text(f'{verb} ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE'))
        for schema in SCHEMAS:
            if schema == "marts":
                continue
            conn.execute(sa.text(f'REVOKE ALL ON SCHEMA {schema} FROM "{role}"'))
            conn.execute(sa.text(f'REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM "{role}"'))
        conn.execute(sa.text(f'REVOKE CREATE ON SCHEMA public FROM "{role}"'))
        conn.execute(sa.text(f'GRANT USAGE ON SCHEMA marts TO "{role}"'))
        conn.execute(sa.text(f'GRANT SELECT ON ALL TABLES IN SCHEMA marts TO "{role}"'))
        # Marts added by a later version of the pipeline are readable too.
        conn.execute(sa.text(f'ALTER DEFAULT PRIVILEGES IN SCHEMA marts GRANT SELECT ON TABLES TO "{role}"'))
