"""Small helpers for the files users hand in: read them and describe their content in errors."""

from __future__ import annotations

import contextlib
import gc
import json
import os
from collections.abc import Iterator, Mapping
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


def parse_user_json(text: str, label: str, error: type[GridOracleError]) -> Any:
    """The JSON value of a user's file, or ``error`` naming ``label``, the line and the column.

    Examples
    --------
    >>> from gridoracle.errors import InvalidOption
    >>> parse_user_json('{"a": [1, 2]}', "file x", InvalidOption)
    {'a': [1, 2]}
    >>> parse_user_json('{"a": ', "file x", InvalidOption)
    Traceback (most recent call last):
    ...
    gridoracle.errors.InvalidOption: file x: not valid JSON (Expecting value at line 1, column 7)
    """
    try:
        with gc_paused():
            return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(
            f"{label}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects (none are cyclic).

    With grid2op loaded the collector's full passes dominate the cost of building tens of
    thousands of actions (about 3x); it is turned back on, as it was, on the way out.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
