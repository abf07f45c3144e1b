"""The blueprints, one per resource; views validate, call a service (webapi/services) and answer."""

from __future__ import annotations

from flask import Flask

from webapi.routes import batches, dashboard, embeddings, files, health, jobs, openai, openapi, prometheus, tokenize


def register(app: Flask) -> None:
    """Register every blueprint on `app`."""
    for module in (jobs, openai, embeddings, tokenize, files, batches, health, openapi, prometheus, dashboard):
        app.register_blueprint(module.bp)
