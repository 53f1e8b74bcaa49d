"""The red team's tests reuse the set tests' world (four trusts, three sharing)."""

from tests.sets.conftest import world

__all__ = ["world"]
