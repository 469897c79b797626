"""Small helpers for the files users hand in: read them and describe their content in errors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gridoracle.errors import GridOracleError


def read_user_text(path: str | os.PathLike[str], label: str, error: type[GridOracleError]) -> str:
    """The UTF-8 text of a user's file, or ``error`` with one line starting with ``label``.

    Examples
    --------
    >>> from gridoracle.errors import InvalidOption
    >>> read_user_text("/no/such/file", "config 'x'", InvalidOption)
    Traceback (most recent call last):
    ...
    gridoracle.errors.InvalidOption: config 'x': no such file
    """
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{label}: no such file") from None
    except IsADirectoryError:
        raise error(f"{label}: is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise error(f"{label}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise error(f"{label}: cannot be read ({exc.strerror or exc})") from None


def describe_json_value(value: Any, max_chars: int = 40) -> str:
    """A short description of a JSON value for error messages.

    Examples
    --------
    >>> describe_json_value([1, 2]), describe_json_value(None), describe_json_value(3)
    ('a list', 'null', 'the number 3')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        text = value if len(value) <= max_chars else value[: max_chars - 3] + "..."
        return f"the string {text!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
