"""Gunicorn settings for the API: threads, because requests mostly wait on Redis."""

import os

bind = os.environ.get("API_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("API_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("API_THREADS", "32"))
# A synchronous request may wait up to MAX_SYNC_TIMEOUT_S (300 s) for its answer.
timeout = 330
graceful_timeout = 10
accesslog = "-"
# Longer than HTTP clients keep idle connections in their pools (httpx, used by the openai
# client: 5 s), so a client never sends on a connection the server is closing: gunicorn's 2 s
# default makes a client's request after a short pause fail with "connection reset".
keepalive = 75


def worker_exit(server, worker):
    """Stop the worker process's background threads between passes (a batch driver killed halfway
    through submitting a line leaves work for the next driver to redo)."""
    import sys

    wsgi = sys.modules.get("webapi.wsgi")
    if wsgi is not None:
        wsgi.services.stop()
