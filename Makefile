.PHONY: install test lint format demo bench parity docs

SOURCES := $(wildcard minos tests benchmarks demo)  # benchmarks/ may not exist yet

install:
	@command -v uv >/dev/null 2>&1 || python3 -m pip install uv
	uv sync

test: install
	.ci/postgres.sh
	uv run pytest

lint:
	uv run ruff check $(SOURCES)
	uv run ruff format --check $(SOURCES)
	uv run mypy minos

format:
	uv run ruff check --fix $(SOURCES)
	uv run ruff format $(SOURCES)

demo:
	uv run python demo/run.py

bench:
	.ci/postgres.sh
	uv run python benchmarks/run.py; status=$$?; uv run python benchmarks/postgresql.py && exit $$status

parity:
	uv run python benchmarks/parity.py

docs:
	uv run python demo/diagrams.py
	NO_MKDOCS_2_WARNING=1 uv run --group docs mkdocs build --strict
