# Two commands do all the set-up: `make run` serves, `make test` tests. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test lint bench clean

$(VENV)/bin/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime-installed $@

## Web server, Celery worker and Celery beat in the foreground (Ctrl-C stops all three).
run: $(VENV)/.runtime-installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	@if [ -n "$$DJANGO_SUPERUSER_USERNAME" ] && [ -n "$$DJANGO_SUPERUSER_PASSWORD" ]; then \
		$(PY) manage.py shell -c "from django.contrib.auth import get_user_model as g; import sys; sys.exit(g().objects.filter(username='$$DJANGO_SUPERUSER_USERNAME').exists())" \
		&& $(PY) manage.py createsuperuser --noinput --email "$${DJANGO_SUPERUSER_EMAIL:-admin@localhost}" \
		|| echo "admin user $$DJANGO_SUPERUSER_USERNAME already exists"; fi
	@echo ""
	@echo "  Admin:     http://127.0.0.1:$(PORT)/admin/"
	@echo "  Providers: http://127.0.0.1:$(PORT)/notification-providers/"
	@echo "  REST API:  http://127.0.0.1:$(PORT)/api/v1/notifications/  (docs: /api/docs/)"
	@echo "  GraphQL:   http://127.0.0.1:$(PORT)/graphql/"
	@echo ""
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" exec $(VENV)/bin/honcho start --procfile Procfile --port $(PORT)

## The whole test suite. Under CI=true PostgreSQL and Redis on 127.0.0.1 are required.
test: $(VENV)/.dev-installed
	$(PY) tests/preflight.py
	bash tests/e2e/ensure_browser.sh
	$(PY) -m pytest $(PYTEST_ARGS)

## The benchmark (bench/, docs/PERFORMANCE.md): PostgreSQL and Redis on 127.0.0.1. BENCH_ARGS=--quick for a short run.
bench: $(VENV)/.dev-installed
	$(PY) -m bench $(BENCH_ARGS)

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) var .pytest_cache
