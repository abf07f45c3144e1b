"""Optional API keys: each key belongs to a tenant, which scopes the cache, job lookups and limits.

API_KEYS="tenant-a:key1,tenant-b:key2", and/or API_KEYS_FILE with a line per key: "tenant:key", or
better "tenant:sha256:<hex digest of the key>", so the file holds no key (`llm-keys new TENANT
--file F` makes a key, prints it once and appends its hash). The file is read again when it
changes: adding or revoking a key needs no restart. Keys are kept and compared as SHA-256
digests only. When no key is configured, every request is tenant "" and nothing is checked.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import secrets
import threading
import time
from pathlib import Path

from flask import Flask, g, request

from tasks.errors import Unauthorized
from tasks.settings import Settings, SettingsError

log = logging.getLogger(__name__)

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
HASHED = "sha256:"
MIN_KEY_CHARS = 16
#: How often, at most, the key file's modification time is looked at.
RELOAD_CHECK_S = 1.0


def digest(key: str) -> str:
    """A key as it is stored and compared."""
    return hashlib.sha256(key.encode()).hexdigest()


def parse_keys(entries: list[str]) -> dict[str, str]:
    """Key digest -> tenant, from "tenant:key" or "tenant:sha256:<digest>" lines (# comments)."""
    keys = {}
    for entry in (e.strip() for e in entries):
        if not entry or entry.startswith("#"):
            continue
        tenant, sep, key = entry.partition(":")
        if key.startswith(HASHED) and len(key) == len(HASHED) + 64:
            keys[key.removeprefix(HASHED)] = tenant
            continue
        if not sep or not tenant or len(key) < MIN_KEY_CHARS:
            raise SettingsError(
                f"API keys must be 'tenant:key' with a key of at least {MIN_KEY_CHARS} characters, "
                "or 'tenant:sha256:<hex digest>'"
            )
        keys[digest(key)] = tenant
    return keys


class KeyRing:
    """The configured keys; API_KEYS_FILE is read again when it changes."""

    def __init__(self, settings: Settings) -> None:
        self._fixed = [e for e in settings.api_keys.split(",") if e.strip()]
        self._file = Path(settings.api_keys_file) if settings.api_keys_file else None
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._checked = 0.0
        self.keys = self._load()

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def tenant(self, key: str) -> str | None:
        """The tenant a key belongs to, or None."""
        self._maybe_reload()
        return self.keys.get(digest(key))

    def _load(self) -> dict[str, str]:
        entries = list(self._fixed)
        if self._file is not None:
            try:
                self._stamp = self._file.stat().st_mtime
                entries += self._file.read_text().splitlines()
            except OSError as exc:
                raise SettingsError(f"API_KEYS_FILE cannot be read: {exc}") from None
        return parse_keys(entries)

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if self._file is None or now - self._checked < RELOAD_CHECK_S:
            return
        with self._lock:
            self._checked = now
            try:
                if self._file.stat().st_mtime == self._stamp:
                    return
                self.keys = self._load()
                log.info("API keys reloaded from %s: %d keys", self._file, len(self.keys))
            except (OSError, SettingsError) as exc:  # keep serving the keys we have
                log.error("API_KEYS_FILE could not be reloaded (%s); the previous keys stay in force", exc)


def install(app: Flask, ring: KeyRing) -> None:
    """Check the bearer key before every non-public route; record its tenant in g.tenant."""

    @app.before_request
    def _authenticate() -> None:
        g.tenant = ""
        if not ring.enabled or request.endpoint in PUBLIC_ENDPOINTS:
            return
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        tenant = ring.tenant(given.strip()) if scheme.lower() == "bearer" else None
        if tenant is None:
            raise Unauthorized("a valid API key is required: send 'Authorization: Bearer <key>'")
        g.tenant = tenant


def main() -> None:
    """llm-keys new TENANT [--file F]: make a key, print it once, store only its digest."""
    parser = argparse.ArgumentParser(prog="llm-keys", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="make a key for a tenant")
    new.add_argument("tenant")
    new.add_argument("--file", type=Path, help="the API_KEYS_FILE to append the key's digest to")
    args = parser.parse_args()
    if not args.tenant or ":" in args.tenant:
        parser.error("a tenant name is not empty and has no ':'")
    key = "sk-" + secrets.token_urlsafe(32)
    line = f"{args.tenant}:{HASHED}{digest(key)}"
    if args.file is not None:
        with args.file.open("a") as keys:
            keys.write(line + "\n")
        print(f"added to {args.file} (read again by running API processes within a second):", flush=True)
    else:
        print(f"add this line to API_KEYS_FILE: {line}", flush=True)
    print(key)
