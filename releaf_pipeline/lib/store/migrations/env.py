"""Alembic environment: runs on the connection `releaf_pipeline.lib.store.migrate` hands it."""

from alembic import context

from releaf_pipeline.lib.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
