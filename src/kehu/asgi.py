"""ASGI entry point for uvicorn: `kehu.asgi:app`."""
from kehu.app import create_app

app = create_app()
