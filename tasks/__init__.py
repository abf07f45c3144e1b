"""The contract between the API and the model worker: settings, Celery app, messages, job records."""
