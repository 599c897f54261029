"""get_service_name."""

from __future__ import annotations

import pytest
from minos.common import NotProvidedException

from minos.saga import get_service_name


def test_service_name(injector):
    assert get_service_name() == "order"


def test_service_name_without_config():
    with pytest.raises(NotProvidedException):
        get_service_name()
