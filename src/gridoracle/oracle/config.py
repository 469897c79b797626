"""The Oracle's settings: Oracle4Grid's ``config.ini`` read as is, TOML, and command-line overrides.

Oracle4Grid (``oracle4grid/main.py``) reads its settings with
``configparser.ConfigParser(allow_no_value=True)`` from the ``[DEFAULT]`` section of a
``config.ini``; its own file, ``oracle4grid/ressources/config.ini``, holds the defaults used here,
but one::

    [DEFAULT]
    max_depth = 1
    max_iter = 400
    reward_significant_digit
    replay_reward_rel_tolerance = 1e-7
    nb_process = 1
    best_path_type = shortest
    n_best_topos = 2
    # output_path = oracle4grid/output

The one: ``best_path_type`` defaults to ``longest`` here. Oracle4Grid's ``shortest`` minimises the
summed margin reward, i.e. it picks the worst topologies (a first run's "best path" worse than
doing nothing); a file that sets ``shortest`` (Oracle4Grid's own config.ini does) keeps it.

A key written without a value (``reward_significant_digit`` above) means "not set": for
``reward_significant_digit`` Oracle4Grid then uses 5 (:attr:`OracleConfig.significant_digit`).
Keys are case-insensitive, as configparser makes them; other sections are ignored, with a warning,
as Oracle4Grid reads only ``[DEFAULT]``. Unlike Oracle4Grid, inline comments (`` # ...`` after a
value) are allowed and ``%`` is not interpolated.

The TOML file has the same keys, at the top level or in an ``[oracle]`` table (then the rest of the
file is not read); a key left out keeps its default.

Every value is checked; a bad one raises :class:`~gridoracle.errors.InvalidOption` with one line
naming the file, the key and the value. Unknown keys are warnings: returned (the caller shows
them, once), and logged at DEBUG level only.
"""

from __future__ import annotations

import configparser
import dataclasses
import logging
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridoracle.errors import InvalidOption
from gridoracle.files import read_user_text

__all__ = [
    "BEST_PATH_TYPES",
    "COMBINE_MODES",
    "DEFAULT_SIGNIFICANT_DIGIT",
    "INI_SECTION",
    "OracleConfig",
    "read_config",
    "read_config_ini",
    "read_config_toml",
]

logger = logging.getLogger(__name__)

#: the section Oracle4Grid reads its settings from
INI_SECTION = "DEFAULT"
#: the table of a TOML file holding the settings (if absent, the top level holds them)
TOML_TABLE = "oracle"
#: ``best_path_type`` values: maximise ("longest") or minimise ("shortest") the summed reward
BEST_PATH_TYPES: tuple[str, ...] = ("longest", "shortest")
#: ``combine`` values: how combined actions are simulated (gridoracle's setting, not Oracle4Grid's)
COMBINE_MODES: tuple[str, ...] = ("exact", "superposition")
#: what Oracle4Grid uses when ``reward_significant_digit`` is not set
DEFAULT_SIGNIFICANT_DIGIT = 5
# rewards are cast as int64(w * 10**digits): beyond this, a reward of a few hundred overflows
_MAX_SIGNIFICANT_DIGIT = 15
_INT_TEXT = re.compile(r"^[+-]?[0-9]+$")


@dataclass(frozen=True)
class OracleConfig:
    """The Oracle's settings, with Oracle4Grid's names and defaults (but ``best_path_type``).

    Attributes
    ----------
    max_depth : int
        Most unitary actions combined in one combined action (>= 1).
    max_iter : int
        Number of time steps of the episode simulated (>= 1).
    nb_process : int
        Number of processes simulating actions in parallel (>= 1).
    best_path_type : str
        ``"longest"`` (maximise the summed reward; the default) or ``"shortest"`` (minimise it,
        Oracle4Grid's default).
    n_best_topos : int
        Number of most played topologies of the best path given a "then do nothing" KPI (>= 0).
    reward_significant_digit : int or None
        Rewards are truncated to this many decimals in the graph (0 to 15); None: 5.
    replay_reward_rel_tolerance : float
        Relative tolerance between the replayed and the expected reward (>= 0).
    output_path : str or None
        Root folder of the outputs; None: the caller's default.
    combine : str
        ``"exact"`` (every combined action simulated in AC; the default) or ``"superposition"``
        (combinations screened by superposition of their unitary parts, only those that can
        reach the best path simulated; see :mod:`gridoracle.oracle.sim.superposition`).
        gridoracle's setting, not Oracle4Grid's.
    no_opponent : bool
        Make the environment without its opponent (``--no-opponent``): no attack, no
        multiverse, and ``combine = "superposition"`` is used. gridoracle's setting:
        Oracle4Grid always runs the opponent's multiverse when the environment has one. It
        changes nothing on an environment without opponent.
    """

    max_depth: int = 1
    max_iter: int = 400
    nb_process: int = 1
    best_path_type: str = "longest"
    n_best_topos: int = 2
    reward_significant_digit: int | None = None
    replay_reward_rel_tolerance: float = 1e-7
    output_path: str | None = None
    combine: str = "exact"
    no_opponent: bool = False

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            checked = _check(f.name, value, "OracleConfig")
            if checked != value or type(checked) is not type(value):
                object.__setattr__(self, f.name, checked)

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The setting names, in Oracle4Grid's config.ini order of this class."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any], *, source: str = "settings"
    ) -> tuple[OracleConfig, list[str]]:
        """Settings from a mapping of names to values (text or typed), over the defaults.

        Returns
        -------
        (config, warnings)
            ``warnings`` lists the unknown keys (ignored), one line each naming ``source``.

        Raises
        ------
        InvalidOption
            A value of the wrong type or out of range.
        """
        return cls()._apply(values, source=source, from_file=True)

    @property
    def significant_digit(self) -> int:
        """``reward_significant_digit``, or 5 when not set (Oracle4Grid's fallback)."""
        if self.reward_significant_digit is None:
            return DEFAULT_SIGNIFICANT_DIGIT
        return self.reward_significant_digit

    def merge(self, overrides: Mapping[str, Any], *, source: str = "command line") -> OracleConfig:
        """These settings with ``overrides`` applied; a None value leaves a setting unchanged.

        Parameters
        ----------
        overrides : mapping of str to value
            Setting name to new value, typed (``3``) or as text (``"3"``), e.g. the command-line
            options, None for those not given.
        source : str
            How error messages name where the values come from.

        Returns
        -------
        OracleConfig
            A new object (this one is unchanged).

        Raises
        ------
        InvalidOption
            A bad value, or a name that is not a setting.
        """
        merged, _ = self._apply(overrides, source=source, from_file=False)
        return merged

    def _apply(
        self, overrides: Mapping[str, Any], *, source: str, from_file: bool
    ) -> tuple[OracleConfig, list[str]]:
        # from a file: unknown keys are warnings and None (a key without a value) unsets an
        # optional setting; from the command line: unknown keys are errors, None is "not given"
        known = set(self.keys())
        changes: dict[str, Any] = {}
        warnings: list[str] = []
        for raw_key, value in overrides.items():
            key = raw_key.strip().lower() if isinstance(raw_key, str) else raw_key
            if key not in known:
                message = f"{source}: unknown setting {raw_key!r} (known: {', '.join(self.keys())})"
                if not from_file:
                    raise InvalidOption(message)
                warnings.append(message + ": ignored")
                logger.debug("%s: ignored", message)
                continue
            if value is None and not (from_file and key in _OPTIONAL):
                continue
            changes[key] = _check(key, value, source)
        return dataclasses.replace(self, **changes), warnings

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (for ``summary.json``), in field order."""
        return dataclasses.asdict(self)

    def to_ini(self) -> str:
        """The settings as an Oracle4Grid ``config.ini`` text (read back by both tools)."""
        lines = [f"[{INI_SECTION}]"]
        for key, value in self.to_dict().items():
            if value is None:
                if key == "output_path":
                    lines.append(f"# {key} =")
                else:
                    lines.append(key)
            else:
                lines.append(f"{key} = {_ini_text(value)}")
        return "\n".join(lines) + "\n"

    def to_toml(self) -> str:
        """The settings as TOML (unset values left out), readable by :func:`read_config_toml`."""
        lines = []
        for key, value in self.to_dict().items():
            if value is None:
                continue
            if isinstance(value, str):
                escaped = value.replace("\\", "\\\\").replace('"', '\\"')
                lines.append(f'{key} = "{escaped}"')
            else:
                lines.append(f"{key} = {_ini_text(value)}")
        return "\n".join(lines) + "\n"


# settings whose None ("not set") can be given explicitly, e.g. by a key without a value
_OPTIONAL = frozenset({"reward_significant_digit", "output_path"})


def read_config_ini(path: str | os.PathLike[str]) -> tuple[OracleConfig, list[str]]:
    """Read an Oracle4Grid ``config.ini`` as it is.

    Parameters
    ----------
    path : str or path-like
        The file; its ``[DEFAULT]`` section is read.

    Returns
    -------
    (config, warnings)
        Settings over the defaults; warnings (unknown keys, ignored sections) are one line
        each, naming the file, for the caller to show (logged at DEBUG level only).

    Raises
    ------
    InvalidOption
        Missing or unreadable file, a syntax error (with its line), or a bad value (naming the
        key and the value).
    """
    label = f"config file {os.fspath(path)!r}"
    text = read_user_text(path, label, InvalidOption)
    parser = configparser.ConfigParser(
        allow_no_value=True, inline_comment_prefixes=("#", ";"), interpolation=None
    )
    try:
        parser.read_string(text, source=os.fspath(path))
    except configparser.MissingSectionHeaderError as exc:
        raise InvalidOption(
            f"{label}: line {exc.lineno} comes before any section header; Oracle4Grid's "
            f"settings go under [{INI_SECTION}]"
        ) from None
    except configparser.DuplicateOptionError as exc:
        raise InvalidOption(
            f"{label}: key {exc.option!r} is set twice in [{exc.section}] (line {exc.lineno})"
        ) from None
    except configparser.DuplicateSectionError as exc:
        raise InvalidOption(
            f"{label}: section [{exc.section}] appears twice (line {exc.lineno})"
        ) from None
    except configparser.ParsingError as exc:
        lineno, line = exc.errors[0] if exc.errors else (0, "")
        raise InvalidOption(
            f"{label}: line {lineno} is not 'key = value' nor a section header: {line.strip()}"
        ) from None
    except configparser.Error as exc:
        raise InvalidOption(f"{label}: {' '.join(str(exc).split())}") from None
    warnings: list[str] = []
    for section in parser.sections():
        message = (
            f"{label}: section [{section}] is ignored: the settings are read from "
            f"[{INI_SECTION}], as Oracle4Grid does"
        )
        warnings.append(message)
        logger.debug("%s", message)
    values: dict[str, Any] = {}
    for key, value in parser.defaults().items():
        if value is None and key not in _OPTIONAL:
            raise InvalidOption(f"{label}: key {key!r} has no value")
        values[key] = value
    config, more = OracleConfig.from_mapping(values, source=label)
    return config, warnings + more


def read_config_toml(path: str | os.PathLike[str]) -> tuple[OracleConfig, list[str]]:
    """Read the settings from a TOML file (top level, or its ``[oracle]`` table).

    Returns
    -------
    (config, warnings)
        As :func:`read_config_ini`.

    Raises
    ------
    InvalidOption
        Missing or unreadable file, a TOML syntax error (with its line and column), or a bad
        value (naming the key and the value).
    """
    label = f"config file {os.fspath(path)!r}"
    text = read_user_text(path, label, InvalidOption)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidOption(f"{label}: not valid TOML ({' '.join(str(exc).split())})") from None
    table = data.get(TOML_TABLE)
    if isinstance(table, dict):
        values: Mapping[str, Any] = table
        source = f"{label} [{TOML_TABLE}]"
    else:
        values = data
        source = label
    config, warnings = OracleConfig.from_mapping(values, source=source)
    return config, warnings


def read_config(path: str | os.PathLike[str] | None) -> tuple[OracleConfig, list[str]]:
    """Read a settings file by its extension: ``.toml`` as TOML, anything else as config.ini.

    ``None`` gives the defaults (:class:`OracleConfig`) and no warning.
    """
    if path is None:
        return OracleConfig(), []
    if Path(path).suffix.lower() == ".toml":
        return read_config_toml(path)
    return read_config_ini(path)


# --------------------------------------------------------------------------------------------
# internals


def _ini_text(value: Any) -> str:
    if isinstance(value, bool):  # TOML's and configparser's spelling
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _bad(source: str, key: str, value: Any, expected: str) -> InvalidOption:
    shown = repr(value) if not isinstance(value, str) else repr(value.strip())
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return InvalidOption(f"{source}: {key} = {shown} is not valid: expected {expected}")


def _as_int(key: str, value: Any, source: str, minimum: int, maximum: int | None = None) -> int:
    expected = f"an integer of at least {minimum}"
    if maximum is not None:
        expected = f"an integer from {minimum} to {maximum}"
    if isinstance(value, bool):
        raise _bad(source, key, value, expected)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INT_TEXT.match(value.strip()):
        number = int(value.strip())
    else:
        raise _bad(source, key, value, expected)
    if number < minimum or (maximum is not None and number > maximum):
        raise _bad(source, key, value, expected)
    return number


_BOOL_TEXT = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}


def _as_bool(key: str, value: Any, source: str) -> bool:
    """A boolean, or its text as configparser's ``getboolean`` reads it (true/false, yes/no,
    on/off, 1/0, any case)."""
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in _BOOL_TEXT:
        raise _bad(source, key, value, "true or false")
    return _BOOL_TEXT[text]


def _as_float(key: str, value: Any, source: str) -> float:
    expected = "a number of at least 0"
    if isinstance(value, bool):
        raise _bad(source, key, value, expected)
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _bad(source, key, value, expected) from None
    else:
        raise _bad(source, key, value, expected)
    if not math.isfinite(number) or number < 0:
        raise _bad(source, key, value, expected)
    return number


def _check(key: str, value: Any, source: str) -> Any:
    """``value`` checked and converted for setting ``key``; InvalidOption if it is bad."""
    if key in ("max_depth", "max_iter", "nb_process"):
        return _as_int(key, value, source, 1)
    if key == "n_best_topos":
        return _as_int(key, value, source, 0)
    if key == "reward_significant_digit":
        if value is None:
            return None
        return _as_int(key, value, source, 0, _MAX_SIGNIFICANT_DIGIT)
    if key == "replay_reward_rel_tolerance":
        return _as_float(key, value, source)
    if key == "best_path_type":
        text = value.strip().lower() if isinstance(value, str) else None
        if text not in BEST_PATH_TYPES:
            raise _bad(source, key, value, "longest or shortest")
        return text
    if key == "combine":
        text = value.strip().lower() if isinstance(value, str) else None
        if text not in COMBINE_MODES:
            raise _bad(source, key, value, " or ".join(COMBINE_MODES))
        return text
    if key == "no_opponent":
        return _as_bool(key, value, source)
    if key == "output_path":
        if value is None:
            return None
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str) or not value.strip():
            raise _bad(source, key, value, "a folder path")
        return value.strip()
    raise InvalidOption(f"{source}: unknown setting {key!r}")  # not reached: keys are checked
