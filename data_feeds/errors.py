"""The error family a user can act on: every bad input ends as one line and exit code 2."""

from __future__ import annotations


class UserInputError(Exception):
    """An input the user can fix: names where it is, which field, and what was expected."""

    def __init__(self, where: str, field: str | None, message: str) -> None:
        self.where = where
        self.field = field
        self.message = message
        super().__init__(self.line())

    def line(self) -> str:
        """The one-line message shown to the user."""
        parts = [self.where]
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


class DataError(UserInputError):
    """Prices, calendars, caches or fundamentals that cannot be used as given."""
