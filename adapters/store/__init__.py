"""The hub's store: SQLAlchemy Core tables and repositories over SQLite or PostgreSQL, the unit
of work, the filesystem blob store, and the Alembic migrations (the only schema authority).

Wiring (done once, by the composition root)::

    engine = create_engine(url)            # adapters.store.engine
    upgrade(engine)                        # adapters.store.migrate — `lienthong db upgrade`
    uow_factory = SqlStore(engine).unit_of_work
    blobs = FileBlobStore(data_dir / "blobs")
"""

from __future__ import annotations

from adapters.store.blobs import FileBlobStore
from adapters.store.engine import EngineOptions, create_engine
from adapters.store.migrate import upgrade
from adapters.store.uow import SqlStore, SqlUnitOfWork

__all__ = [
    "EngineOptions",
    "FileBlobStore",
    "SqlStore",
    "SqlUnitOfWork",
    "create_engine",
    "upgrade",
]
