"""ASGI entry point for uvicorn: `kehu.asgi:app`."""
import gc

from kehu.app import create_app

app = create_app()
# everything allocated at start-up (catalogue, schemas, templates, SQLAlchemy metadata) is long-lived:
# keep it out of the collector's scans so that collections on the request path stay short
gc.collect()
gc.freeze()
