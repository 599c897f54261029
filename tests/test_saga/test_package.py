"""The package front: its version and what importing it loads."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest

import minos.saga
from minos.saga.executions.repositories import postgresql


def test_version_is_the_distribution_version():
    assert minos.saga.__version__ == version("minos-microservice-saga")


def test_import_does_not_load_the_postgresql_driver():
    code = "import sys, minos.saga; print(sorted({'aiopg', 'psycopg2'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("module", ["minos.saga", "minos.saga.executions", "minos.saga.executions.repositories"])
def test_postgresql_repository_is_importable_from_every_front(module):
    front = __import__(module, fromlist=["PostgreSqlSagaExecutionRepository"])
    assert front.PostgreSqlSagaExecutionRepository is postgresql.PostgreSqlSagaExecutionRepository


def test_unknown_names_still_raise_attribute_error():
    with pytest.raises(AttributeError, match="NoSuchThing"):
        minos.saga.NoSuchThing  # noqa: B018
