"""The Celery app for monitors (`celery -A tasks.monitor_app flower`, `celery events`, `inspect`)."""

from tasks.celery_app import make_celery
from tasks.settings import Settings

app = make_celery(Settings.from_env())
