"""Optional API keys: each key belongs to a tenant, which scopes the cache and job lookups.

API_KEYS="tenant-a:key1,tenant-b:key2" (or API_KEYS_FILE with one "tenant:key" a line). When no
key is configured, every request is tenant "" and nothing is checked.
"""

from __future__ import annotations

import hmac
from pathlib import Path

from flask import Flask, g, request

from tasks.errors import Unauthorized
from tasks.settings import Settings, SettingsError

#: Routes a load balancer, orchestrator, Prometheus or an operator's browser reads without a key
#: (aggregate figures only; keep them on a private network).
PUBLIC_ENDPOINTS = {
    "health.healthz",
    "health.readyz",
    "openapi.spec",
    "metrics.scrape",
    "dashboard.page",
    "dashboard.data",
    "static",
}


def load_keys(settings: Settings) -> dict[str, str]:
    """key -> tenant, from API_KEYS and API_KEYS_FILE."""
    entries = [e for e in settings.api_keys.split(",") if e.strip()]
    if settings.api_keys_file:
        try:
            entries += Path(settings.api_keys_file).read_text().splitlines()
        except OSError as exc:
            raise SettingsError(f"API_KEYS_FILE cannot be read: {exc}") from None
    keys = {}
    for entry in (e.strip() for e in entries):
        if not entry or entry.startswith("#"):
            continue
        tenant, sep, key = entry.partition(":")
        if not sep or not tenant or len(key) < 16:
            raise SettingsError("API keys must be 'tenant:key' with a key of at least 16 characters")
        keys[key] = tenant
    return keys


def install(app: Flask, keys: dict[str, str]) -> None:
    """Check the bearer key before every non-public route; record its tenant in g.tenant."""

    @app.before_request
    def _authenticate() -> None:
        g.tenant = ""
        if not keys or request.endpoint in PUBLIC_ENDPOINTS:
            return
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        tenant = next((t for k, t in keys.items() if hmac.compare_digest(k, given.strip())), None)
        if scheme.lower() != "bearer" or tenant is None:
            raise Unauthorized("a valid API key is required: send 'Authorization: Bearer <key>'")
        g.tenant = tenant
