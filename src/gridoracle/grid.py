"""Access to grid2op environments, offline, and the facts about them.

Environments come from the test data that ships inside the grid2op package (no download, ever), or
from an environment folder the user names. They always run on lightsim2grid's
:class:`~lightsim2grid.LightSimBackend`.

Chronics ("episodes", "scenarios") are addressed by their integer index, the one grid2op's
``env.set_id(int)`` takes, or by their folder name.
"""

from __future__ import annotations

import importlib.resources
import operator
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridoracle.errors import EnvironmentNotFound, InvalidOption

# grid2op warns at import time that numba is missing (it only speeds up its pandapower backend,
# which we do not use): keep that noise out of our output, and only that one.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Numba cannot be loaded", category=UserWarning)
    import grid2op
    from grid2op.Environment import Environment
    from grid2op.Parameters import Parameters
    from lightsim2grid import LightSimBackend

__all__ = [
    "EnvFacts",
    "chronic_ids",
    "chronic_names",
    "env_facts",
    "env_label",
    "load_env_facts",
    "make_env",
    "offline_env_names",
    "resolve_chronics",
]

# The warning grid2op.make(name, test=True) emits about development data: expected here.
_TEST_DATA_WARNING = r"You are using a development environment"
_MULTIMIX_MARKER = ".multimix"
_CONFIG_FILE = "config.py"


def _grid2op_data_dir() -> Path:
    """Folder inside the installed grid2op package that holds its shipped test environments."""
    return Path(str(importlib.resources.files("grid2op") / "data"))


def _test_names_known_to_grid2op() -> set[str] | None:
    """Canonical names ``grid2op.make(name, test=True)`` accepts, or None if grid2op hides them.

    Aliases (grid2op maps, e.g., ``case14_realistic`` to the ``rte_case14_realistic`` folder) are
    left out: a name is kept only when it is the name of its own folder.
    """
    try:
        from grid2op.MakeEnv._aux_var import TEST_DEV_ENVS
    except ImportError:  # private module of grid2op: fall back to the folder listing alone
        return None
    return {name for name, path in TEST_DEV_ENVS.items() if Path(str(path)).name == name}


def _is_multimix(folder: Path) -> bool:
    return (folder / _MULTIMIX_MARKER).exists()


def _has_chronic_folders(folder: Path) -> bool:
    chronics = folder / "chronics"
    return chronics.is_dir() and any(child.is_dir() for child in chronics.iterdir())


def offline_env_names() -> list[str]:
    """Names of the environments usable offline: the test data shipped with grid2op.

    A name is listed when grid2op accepts it with ``test=True`` and its folder is a single
    environment (not a multi-mix) with a ``config.py`` and at least one chronic folder. This only
    lists folders; no environment is created.

    Returns
    -------
    list of str
        Sorted environment names, each accepted by :func:`make_env`.

    Examples
    --------
    >>> "l2rpn_case14_sandbox" in offline_env_names()
    True
    """
    data_dir = _grid2op_data_dir()
    if not data_dir.is_dir():
        return []
    accepted = _test_names_known_to_grid2op()
    names = []
    for folder in data_dir.iterdir():
        if not folder.is_dir() or folder.name.startswith(("_", ".")):
            continue
        if accepted is not None and folder.name not in accepted:
            continue
        if _is_multimix(folder) or not (folder / _CONFIG_FILE).is_file():
            continue
        if not _has_chronic_folders(folder):
            continue
        names.append(folder.name)
    return sorted(names)


def _available_hint() -> str:
    return "available offline environments: " + ", ".join(offline_env_names())


def make_env(
    env: str | os.PathLike[str],
    *,
    param: Parameters | None = None,
    seed: int | None = None,
    **kwargs: Any,
) -> Environment:
    """Create a grid2op environment on lightsim2grid, without any download.

    Parameters
    ----------
    env : str or path-like
        A name from :func:`offline_env_names` (grid2op's shipped test data, made as
        ``grid2op.make(name, test=True)``), or the path of an environment folder. A ``str`` is
        looked up as a name first, then as a path; a path-like object is always a path.
    param : grid2op.Parameters.Parameters, optional
        Parameters of the environment; grid2op's defaults (or the folder's) when None.
    seed : int, optional
        If given, ``env.seed(seed)`` is called; it takes effect at the next ``env.reset()``.
    **kwargs
        Passed to :func:`grid2op.make`.

    Returns
    -------
    grid2op.Environment.Environment
        The environment; close it with ``env.close()`` when done.

    Raises
    ------
    EnvironmentNotFound
        Unknown name, path that does not exist, or folder that is not a loadable environment.

    Examples
    --------
    >>> env = make_env("l2rpn_case14_sandbox", seed=0)
    >>> env.n_sub
    14
    >>> env.close()
    """
    make_kwargs: dict[str, Any] = dict(kwargs)
    if param is not None:
        make_kwargs["param"] = param

    if isinstance(env, str) and env in offline_env_names():
        # The absolute folder with test=True is exactly what grid2op.make(name, test=True) loads,
        # but cannot be shadowed by a folder of the same name in the current directory.
        folder = _grid2op_data_dir() / env
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_TEST_DATA_WARNING, category=UserWarning)
            result = grid2op.make(str(folder), test=True, backend=LightSimBackend(), **make_kwargs)
    else:
        folder = _check_env_folder(env)
        try:
            result = grid2op.make(str(folder), backend=LightSimBackend(), **make_kwargs)
        except Exception as exc:  # a broken folder fails in many ways; all are the user's input
            first_line = (str(exc).strip().splitlines() or [""])[0]
            raise EnvironmentNotFound(
                f"environment folder {os.fspath(env)!r} could not be loaded by grid2op: "
                f"{type(exc).__name__}: {first_line}"
            ) from exc
    if not isinstance(result, Environment):  # multi-mix folders are refused above
        result.close()
        raise EnvironmentNotFound(
            f"{os.fspath(env)!r} is not a single grid2op environment (got {type(result).__name__})"
        )
    if seed is not None:
        result.seed(seed)
    return result


def _check_env_folder(env: str | os.PathLike[str]) -> Path:
    """The folder of a path argument, or EnvironmentNotFound saying why it is not an environment."""
    text = os.fspath(env)
    folder = Path(text).expanduser()
    if not folder.exists():
        raise EnvironmentNotFound(
            f"unknown environment {text!r}: neither an offline environment name nor an existing "
            f"folder; {_available_hint()}"
        )
    if not folder.is_dir():
        raise EnvironmentNotFound(f"environment path {text!r} is a file, not an environment folder")
    if _is_multimix(folder):
        mixes = sorted(child.name for child in folder.iterdir() if child.is_dir())
        raise EnvironmentNotFound(
            f"{text!r} is a multi-mix environment; pass one of its mix folders instead: "
            + ", ".join(str(folder / mix) for mix in mixes)
        )
    if not (folder / _CONFIG_FILE).is_file():
        raise EnvironmentNotFound(
            f"folder {text!r} is not a grid2op environment (no {_CONFIG_FILE}); {_available_hint()}"
        )
    return folder


def env_label(env_arg: str | os.PathLike[str]) -> str:
    """A short, filesystem-safe label for an environment argument.

    The name itself for an offline environment, the folder's base name for a path; characters
    other than letters, digits, ``.``, ``_`` and ``-`` become ``_``.

    Examples
    --------
    >>> env_label("l2rpn_case14_sandbox")
    'l2rpn_case14_sandbox'
    >>> env_label("/data/my envs/case 14/")
    'case_14'
    """
    text = os.fspath(env_arg)
    base = os.path.basename(os.path.normpath(text)) if text else ""
    label = re.sub(r"[^A-Za-z0-9._-]", "_", base).strip(".")
    return label or "env"


def chronic_names(env: Environment) -> list[str]:
    """Folder names of the chronics of ``env``, in the index order of ``env.set_id(int)``.

    Examples
    --------
    >>> env = make_env("l2rpn_case14_sandbox")
    >>> chronic_names(env)
    ['0000', '0001', '0002']
    >>> env.close()
    """
    real_data = env.chronics_handler.real_data
    subpaths = getattr(real_data, "subpaths", None)
    order = getattr(real_data, "_order", None)
    if subpaths is None:  # a single, non-folder chronic (e.g. ChangeNothing)
        return [os.path.basename(os.path.normpath(str(env.chronics_handler.get_id()))) or "0"]
    if order is None:
        order = range(len(subpaths))
    return [os.path.basename(os.path.normpath(str(subpaths[int(k)]))) for k in order]


def chronic_ids(env: Environment) -> list[int]:
    """Integer ids of the chronics of ``env``, as ``env.set_id(int)`` takes them."""
    return list(range(len(chronic_names(env))))


_INT = re.compile(r"^\d+$")
_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")


def resolve_chronics(env: Environment, spec: str | Sequence[int | str] | None) -> list[int]:
    """Turn a user's chronic selection into a list of chronic ids.

    Parameters
    ----------
    env : grid2op.Environment.Environment
        The environment whose chronics are selected.
    spec : str, sequence of int or str, or None
        ``None`` or ``"all"``: every chronic. A string is a comma-separated list of tokens: an index
        (``"3"``), an inclusive range of indices (``"0-2"``), or a chronic folder name
        (``"Scenario_august_dummy"``). Tokens made only of digits are always indices. A sequence may
        mix ints (indices) and strings (tokens as above).

    Returns
    -------
    list of int
        Chronic ids, duplicates removed, first occurrence order kept.

    Raises
    ------
    InvalidOption
        An index out of range, an unknown name, a malformed token, or an empty selection.

    Examples
    --------
    >>> env = make_env("l2rpn_case14_sandbox")
    >>> resolve_chronics(env, "2,0-1,0001")
    [2, 0, 1]
    >>> env.close()
    """
    names = chronic_names(env)
    n = len(names)
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "all"):
        return list(range(n))

    items: list[int | str] = [spec] if isinstance(spec, str) else list(spec)
    selected: list[int] = []
    for item in items:
        if isinstance(item, str):
            tokens = [token.strip() for token in item.split(",")]
            for token in tokens:
                selected.extend(_resolve_token(token, names))
        else:
            selected.append(_check_index(item, n))
    if not selected:
        raise InvalidOption(f"chronic selection {spec!r} selects no chronic")
    return list(dict.fromkeys(selected))


def _valid_range(n: int) -> str:
    return f"valid indices are 0-{n - 1}" if n > 1 else "the only valid index is 0"


def _check_index(value: object, n: int) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        index = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidOption(f"chronic {value!r} is not an index; {_valid_range(n)}") from None
    if not 0 <= index < n:
        raise InvalidOption(f"chronic index {index} is out of range; {_valid_range(n)}")
    return index


def _resolve_token(token: str, names: list[str]) -> list[int]:
    n = len(names)
    if not token:
        raise InvalidOption("empty chronic in the selection (check the commas)")
    if _INT.match(token):
        return [_check_index(int(token), n)]
    if token in names:
        return [names.index(token)]
    if token.lower() == "all":
        return list(range(n))
    match = _RANGE.match(token)
    if match:
        start, stop = int(match.group(1)), int(match.group(2))
        if start > stop:
            raise InvalidOption(f"chronic range {token!r} is empty (start > end)")
        if stop >= n:
            raise InvalidOption(f"chronic range {token!r} is out of range; {_valid_range(n)}")
        return list(range(start, stop + 1))
    shown = ", ".join(names[:10]) + (f", ... ({n} in all)" if n > 10 else "")
    raise InvalidOption(
        f"unknown chronic {token!r}: not an index, a range like 0-2, or a chronic name "
        f"({_valid_range(n)}; names: {shown})"
    )


@dataclass(frozen=True)
class EnvFacts:
    """Size and data of an environment.

    Attributes
    ----------
    name : str
        The environment argument it was made from.
    n_sub, n_line, n_gen, n_load : int
        Number of substations, power lines, generators and loads.
    n_chronics : int
        Number of chronics (episodes).
    steps_per_chronic : list of int
        For each chronic id, the number of steps grid2op plays in it (its maximum episode
        duration, after any ``max_iter`` limit of the environment).
    n_busbar_per_sub : int
        Busbars per substation.
    """

    name: str
    n_sub: int
    n_line: int
    n_gen: int
    n_load: int
    n_chronics: int
    steps_per_chronic: list[int]
    n_busbar_per_sub: int

    def steps_summary(self) -> str:
        """``"575"`` when all chronics have the same length, else ``"min–max"``."""
        if not self.steps_per_chronic:
            return "-"
        low, high = min(self.steps_per_chronic), max(self.steps_per_chronic)
        return str(low) if low == high else f"{low}–{high}"


def env_facts(env: Environment, name: str) -> EnvFacts:
    """Facts about ``env``: grid size, number of chronics and the length of each.

    The chronic lengths are read the way grid2op plays them: each chronic is loaded by a reset of a
    copy of ``env`` (``env`` itself, its state and its random generators, are left untouched). This
    costs one reset per chronic: milliseconds on case14, about a second per chronic on 118-bus data.

    Parameters
    ----------
    env : grid2op.Environment.Environment
        The environment.
    name : str
        Name to report (usually the argument the environment was made from).

    Returns
    -------
    EnvFacts

    Examples
    --------
    >>> env = make_env("l2rpn_case14_sandbox")
    >>> facts = env_facts(env, "l2rpn_case14_sandbox")
    >>> facts.n_sub, facts.n_chronics, facts.steps_summary()
    (14, 3, '575')
    >>> env.close()
    """
    ids = chronic_ids(env)
    steps: list[int] = []
    scratch = env.copy()
    try:
        for chronic in ids:
            scratch.set_id(chronic)
            scratch.reset()
            steps.append(int(scratch.chronics_handler.max_episode_duration()))
    finally:
        scratch.close()
    return EnvFacts(
        name=name,
        n_sub=int(env.n_sub),
        n_line=int(env.n_line),
        n_gen=int(env.n_gen),
        n_load=int(env.n_load),
        n_chronics=len(ids),
        steps_per_chronic=steps,
        n_busbar_per_sub=int(env.n_busbar_per_sub),
    )


def load_env_facts(env_arg: str | os.PathLike[str]) -> EnvFacts:
    """Make the environment ``env_arg``, read its :func:`env_facts`, and close it.

    Raises
    ------
    EnvironmentNotFound
        As :func:`make_env`.
    """
    env = make_env(env_arg)
    try:
        return env_facts(env, os.fspath(env_arg))
    finally:
        env.close()
