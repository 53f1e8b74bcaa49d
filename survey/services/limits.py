"""How much a typed value may hold: the length of the column it is stored in, and the range of
the numbers people set. Values are checked against these before anything is stored, so that
over-long or out-of-range input is a clear message on both databases (SQLite would quietly store
it; PostgreSQL refuses it with a server error).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import QueryableAttribute

from survey.errors import UserError

# The largest id an INTEGER column holds on PostgreSQL (SQLite's are wider).
MAX_ID = 2**31 - 1
# Reporting thresholds: a threshold larger than the biggest cycle the service is built for (500
# people) would hide every group, so anything above this is a typing mistake.
MAX_THRESHOLD = 1000
# Reminders per cycle: the days before close on which they go out.
MAX_REMINDER_DAYS = 10


def max_length(attribute: QueryableAttribute[Any]) -> int:
    """The length of a model's string column, e.g. `max_length(Trust.name)` is 200."""
    length = getattr(attribute.expression.type, "length", None)
    if not isinstance(length, int):
        raise TypeError(f"{attribute} is not a column of limited length")
    return length


def length_problem(value: str, attribute: QueryableAttribute[Any], what: str) -> str | None:
    """The complaint about `value` if it does not fit the column (`what` starts the sentence)."""
    limit = max_length(attribute)
    if len(value) > limit:
        return f"{what} must be {limit:,} characters or fewer (it has {len(value):,})"
    return None


def check_length(
    value: str, attribute: QueryableAttribute[Any], what: str, *, field: str | None = None
) -> str:
    """`value` unchanged if it fits the column; UserError (about `field`) if it does not."""
    problem = length_problem(value, attribute, what)
    if problem:
        raise UserError(problem, field=field)
    return value


def is_id(value: int) -> bool:
    """Whether `value` could be a row's id at all (an INTEGER primary key, on either database)."""
    return 1 <= value <= MAX_ID
