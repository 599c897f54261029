.PHONY: install test matrix lint format demo demo-postgres bench parity docs e2e

SOURCES := minos tests benchmarks demo examples

# Every target runs its tools through uv: the uv on PATH, else one installed from PyPI into .tools/ (the system
# Python is never touched). uv never downloads a Python: it uses the python3 it finds (>= 3.9). It trusts the
# system's certificate store, as pip does (a proxy's CA may only be there).
UV_VERSION := 0.13.9
export UV_PYTHON_DOWNLOADS ?= never
export UV_SYSTEM_CERTS ?= 1
export PATH := $(CURDIR)/.tools/bin:$(PATH)
UV := $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
RUN := $(UV) run --locked
# Runs a command with PGHOST/PGPORT/PGUSER/PGPASSWORD naming a server: theirs if set, else a throwaway one.
WITH_POSTGRES := $(RUN) python -m tests._postgres

.tools/bin/uv:
	python3 .ci/bootstrap_uv.py .tools $(UV_VERSION)

install: $(UV)
	$(UV) sync --locked

test: $(UV)
	$(RUN) pytest

matrix: $(UV)
	UV=$(UV) .ci/matrix.sh

lint: $(UV)
	$(RUN) ruff check $(SOURCES)
	$(RUN) ruff format --check $(SOURCES)
	$(RUN) mypy minos

format: $(UV)
	$(RUN) ruff check --fix $(SOURCES)
	$(RUN) ruff format $(SOURCES)

demo: $(UV)
	$(WITH_POSTGRES) python demo/run.py

demo-postgres: $(UV)
	$(WITH_POSTGRES) python demo/run.py --postgres

bench: $(UV)
	$(RUN) python benchmarks/run.py; status=$$?; $(WITH_POSTGRES) python benchmarks/postgresql.py && exit $$status

parity: $(UV)
	$(RUN) python benchmarks/parity.py

docs: $(UV)
	$(RUN) python demo/diagrams.py
	NO_MKDOCS_2_WARNING=1 $(RUN) --group docs mkdocs build --strict

# Three services as separate processes on RabbitMQ and PostgreSQL, a replica killed mid-run (examples/deployment).
# The e2e script starts its own servers unless RABBITMQ_HOST / PGHOST name some.
e2e: $(UV)
	$(RUN) --group e2e python examples/deployment/e2e.py
