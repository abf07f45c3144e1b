#!/usr/bin/env bash
# Print a reachable REDIS_URL: the one given if it answers, else start a local redis-server with
# append-only persistence under .run/redis and print its URL.
set -euo pipefail
cd "$(dirname "$0")/.."
url=${REDIS_URL:-redis://127.0.0.1:6379/0}
if .venv/bin/python -c "import redis,sys; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()" "$url" 2>/dev/null; then
  echo "$url"; exit 0
fi
# The port of the URL asked for (6379 by default), unless REDIS_PORT says otherwise.
port=${REDIS_PORT:-$(.venv/bin/python -c "import sys, urllib.parse; print(urllib.parse.urlparse(sys.argv[1]).port or 6379)" "$url")}
mkdir -p .run/redis
redis-server --port "$port" --bind 127.0.0.1 --dir "$PWD/.run/redis" --appendonly yes \
  --daemonize yes --pidfile "$PWD/.run/redis/redis.pid" --logfile "$PWD/.run/redis/redis.log" >/dev/null
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
  echo "redis.sh: no Redis at $url and none could be started on port $port (see .run/redis/redis.log)" >&2
  exit 1
fi
echo "redis://127.0.0.1:$port/0"
