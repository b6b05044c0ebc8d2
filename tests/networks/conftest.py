"""The `spec` fixture: a fresh copy of the two-layer network used across these tests."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ann_helpers import SPEC


@pytest.fixture
def spec() -> dict[str, Any]:
    return json.loads(json.dumps(SPEC))
