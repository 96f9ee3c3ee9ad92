"""alembic environment: migrations run on the connection handed over by ``Store.migrate``."""

from alembic import context

from mlpilot.store._models import VERSION_TABLE, Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    version_table=VERSION_TABLE,
)
with context.begin_transaction():
    context.run_migrations()
