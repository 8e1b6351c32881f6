"""The ``web`` process: ``uvicorn ingest.app:app``. Settings are read and checked when it starts."""

from ingest.server import create_app

app = create_app()
