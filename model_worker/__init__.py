"""The model worker: a Celery solo-pool worker that batches requests and runs the model."""
