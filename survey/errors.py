"""Domain errors: raised by models and services; turned into pages, flashes and exit codes only
at the edges (the blueprints' error handlers, the CLI's `user_errors`, the job runner)."""

from __future__ import annotations


class UserError(Exception):
    """Something the person asked for cannot be done; the message says why, in one line.

    `field` names the input the complaint is about (a form field's name, such as "closes"), so
    that a page can show the message beside that field without reading the message's words."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class IllegalTransition(UserError):
    """A cycle was asked to move to a state it cannot reach from where it is."""


class NotFound(UserError):
    """The named trust, cycle or invitation does not exist (or is not visible to the caller)."""
