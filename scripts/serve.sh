#!/usr/bin/env bash
# Set up, then run the whole service in the foreground: Redis (started if none is reachable),
# the model worker, the API under gunicorn and Flower. Ctrl-C stops all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt
export REDIS_URL; REDIS_URL=$(scripts/redis.sh)
started_redis=""; [ -f .run/redis/redis.pid ] && started_redis=$(cat .run/redis/redis.pid)
export FLOWER_BASIC_AUTH=${FLOWER_BASIC_AUTH:-admin:admin}
bin=.venv/bin
echo "serve: Redis at $REDIS_URL; API on http://${API_BIND:-127.0.0.1:8000}; Flower on http://127.0.0.1:${FLOWER_PORT:-5555} ($FLOWER_BASIC_AUTH)"

pids=()
stop() {
  # Ignore, not default, further signals: a terminal's Ctrl-C or a kill of the process group reaches
  # this shell more than once, and one arriving now would end it before Redis is stopped.
  trap '' INT TERM
  trap - EXIT
  echo "serve: stopping"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  [ -n "$started_redis" ] && kill "$started_redis" 2>/dev/null || true
}
trap stop INT TERM EXIT

$bin/celery -A model_worker.worker worker --pool solo --loglevel "${LOG_LEVEL:-INFO}" & pids+=($!)
$bin/gunicorn -c webapi/gunicorn_conf.py "webapi.wsgi:app" & pids+=($!)
$bin/celery -A tasks.monitor_app flower --port="${FLOWER_PORT:-5555}" --address=127.0.0.1 \
  --basic-auth="$FLOWER_BASIC_AUTH" & pids+=($!)
wait -n "${pids[@]}"  # if any part dies, stop the rest
