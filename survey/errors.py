"""Domain errors: raised by models and services; a message on the web, exit status 1 in the CLI."""


class UserError(Exception):
    """Something the person asked for cannot be done; the message says why, in one line."""


class IllegalTransition(UserError):
    """A cycle was asked to move to a state it cannot reach from where it is."""


class NotFound(UserError):
    """The named trust, cycle or invitation does not exist (or is not visible to the caller)."""
