from __future__ import annotations

import pytest

from dsta.kernel.tests.openapi import ConformingClient


@pytest.fixture
def client() -> ConformingClient:
    """Every JSON answer of the API these tests get is checked against the OpenAPI schema."""
    return ConformingClient()
