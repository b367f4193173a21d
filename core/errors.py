"""Errors the engine raises on purpose; anything else is a bug."""


class SketchifyError(Exception):
    """Base class: the message is one sentence meant for the user."""


class InputError(SketchifyError, ValueError):
    """The caller's input (image, parameter) is unusable. CLI exit 2, HTTP 4xx."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class WeightsError(SketchifyError):
    """Model weights are missing or unreadable; the message says what to fetch and where."""


def first_line(exc: BaseException) -> str:
    """A library error's first line, for our own sentence about it (its type if it is mute)."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
