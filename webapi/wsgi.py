"""The API process's entry point: `gunicorn -c webapi/gunicorn_conf.py webapi.wsgi:app`.

Each gunicorn worker process imports this module: it loads the embedding model and starts the
background threads (webapi/services) there, then builds the app around them.
"""

import gc

from tasks.settings import Settings
from webapi import create_app
from webapi.services import Services

settings = Settings.from_env()
services = Services.build(settings)
services.start()
app = create_app(settings, services)
# What start-up loaded (torch, transformers, the models: ~500 000 objects) lives as long as the
# process: out of the collector's sight, a full collection takes well under a millisecond instead
# of ~250 ms, during which every request thread of this process stood still. (Start-up's garbage
# is collected first: frozen, it would never be.)
gc.collect()
gc.freeze()
