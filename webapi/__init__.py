"""The HTTP API: a Flask application factory with one blueprint per resource (webapi/routes/)."""

from __future__ import annotations

from flask import Flask, Response, g

from tasks.settings import Settings
from webapi import auth, errors, routes
from webapi.routes import prometheus
from webapi.services import Services

#: Request bodies larger than this are refused with 413 before they are parsed.
BODY_OVERHEAD_BYTES = 64 * 1024


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    """Build the API for `settings` (default: from the environment).

    Without `services`, unstarted ones are built: no model is loaded and no thread started, so
    the app serves what needs neither (validation, health, the OpenAPI document) at once. The
    process entry (webapi/wsgi.py) passes started ones.
    """
    settings = settings or Settings.from_env()
    services = services or Services.build(settings)
    app = Flask(__name__)
    app.json.sort_keys = False
    app.config.update(
        SETTINGS=settings,
        # UTF-8 takes at most 4 bytes a character and JSON escapes at most 6: bound the body early.
        MAX_CONTENT_LENGTH=settings.max_prompt_chars * 6 + BODY_OVERHEAD_BYTES,
    )
    app.extensions["services"] = services
    errors.register(app)
    prometheus.install(app, services)  # before auth: refused requests are counted too
    auth.install(app, auth.KeyRing(settings))
    routes.register(app)

    @app.after_request
    def _rate_limit_headers(response: Response) -> Response:
        if (usage := g.get("rate_limit")) is not None:
            response.headers.update({k: v for k, v in usage.headers().items() if k != "Retry-After"})
        return response

    return app
