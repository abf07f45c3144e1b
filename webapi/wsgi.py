"""The API process's entry point: `gunicorn -c webapi/gunicorn_conf.py webapi.wsgi:app`.

Each gunicorn worker process imports this module: it loads the embedding model and starts the
background threads (webapi/services) there, then builds the app around them.
"""

from tasks.settings import Settings
from webapi import create_app
from webapi.services import Services

settings = Settings.from_env()
services = Services.build(settings)
services.start()
app = create_app(settings, services)
