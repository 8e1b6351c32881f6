"""The ``web`` process: ``uvicorn ingest.app:app``. Settings are read and checked when it starts."""

from ingest.server import create_app
from shared import logs
from shared.settings import Settings

_settings = Settings.from_env()
logs.configure(_settings.log_format, _settings.log_level)
app = create_app(_settings)
