.PHONY: run test worker api lint bench compose-check

run:           ## set up and run Redis, the worker, the API and Flower (Ctrl-C stops all)
	scripts/serve.sh

test:          ## set up and run the linter and the test suite
	scripts/test.sh

worker:        ## run one model worker against $$REDIS_URL
	.venv/bin/celery -A model_worker.worker worker --pool solo

api:           ## run the API under gunicorn against $$REDIS_URL
	.venv/bin/gunicorn -c webapi/gunicorn_conf.py "webapi.wsgi:app"

compose-check: ## validate docker-compose.yml
	REDIS_PASSWORD=$${REDIS_PASSWORD:-check} FLOWER_BASIC_AUTH=$${FLOWER_BASIC_AUTH:-check:check} docker-compose config -q
