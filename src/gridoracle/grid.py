"""Access to grid2op environments, offline, and the facts about them.

Environments come from the test data that ships inside the grid2op package (no download, ever), or
from an environment folder the user names. They always run on lightsim2grid's
:class:`~lightsim2grid.LightSimBackend`.

Chronics ("episodes", "scenarios") are addressed by their integer index, the one grid2op's
``env.set_id(int)`` takes, or by their folder name.

Loading a grid goes through pandapower (lightsim2grid converts the pandapower network that
grid2op's pandapower backend reads from ``grid.json``): most of the time of making an
environment. :func:`make_env` keeps the backend as it stands after that load in a cache keyed by
the content of the grid file and the versions involved (:data:`GRID_CACHE_ENV`), so that the next
process restores it instead.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import json
import logging
import operator
import os
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gridoracle.errors import EnvironmentNotFound, InvalidOption
from gridoracle.io import atomic_write_bytes, canonical_json, config_hash, file_sha256, versions

# grid2op warns at import time that numba is missing (it only speeds up its pandapower backend,
# which we do not use): keep that noise out of our output, and only that one.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Numba cannot be loaded", category=UserWarning)
    import grid2op
    from grid2op.Environment import Environment
    from grid2op.Parameters import Parameters
    from lightsim2grid import LightSimBackend

__all__ = [
    "GRID_CACHE_ENV",
    "EnvFacts",
    "chronic_ids",
    "chronic_names",
    "env_facts",
    "env_label",
    "grid_cache_folder",
    "load_env_facts",
    "load_grid_through_cache",
    "make_env",
    "offline_env_names",
    "resolve_chronics",
]

log = logging.getLogger(__name__)

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
    grid_cache: str | os.PathLike[str] | bool | None = None,
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
    grid_cache : path-like or bool, optional
        Where the backend's grid, as loaded from the grid file, is cached (see
        :func:`grid_cache_folder`): None for the folder :data:`GRID_CACHE_ENV` names (by
        default the user's cache folder), False for none (load the grid through pandapower),
        True for the default folder, or a folder. The environment is the same either way.
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
    backend = LightSimBackend()
    cache = grid_cache_folder(grid_cache)
    if cache is not None:
        load_grid_through_cache(backend, cache)

    if isinstance(env, str) and env in offline_env_names():
        # The absolute folder with test=True is exactly what grid2op.make(name, test=True) loads,
        # but cannot be shadowed by a folder of the same name in the current directory.
        folder = _grid2op_data_dir() / env
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_TEST_DATA_WARNING, category=UserWarning)
            result = grid2op.make(str(folder), test=True, backend=backend, **make_kwargs)
    else:
        folder = _check_env_folder(env)
        try:
            result = grid2op.make(str(folder), backend=backend, **make_kwargs)
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


# --------------------------------------------------------------------------------------------------
# The grid cache: the backend as loaded from the grid file, restored without pandapower
# --------------------------------------------------------------------------------------------------

#: environment variable naming the folder of the grid cache; ``off`` (or ``0``, ``false``,
#: ``no``, empty) loads every grid through pandapower
GRID_CACHE_ENV = "GRIDORACLE_GRID_CACHE"
_CACHE_OFF = {"", "0", "off", "false", "no"}
_CACHE_FORMAT = "gridoracle grid cache"
_CACHE_VERSION = 1
#: what decides the loaded grid besides the grid file: the backend's class attributes grid2op
#: sets before the load (the environment's name and options)
_CLASS_KEYS = (
    "env_name",
    "n_busbar_per_sub",
    "detachment_is_allowed",
    "shunts_data_available",
    "glop_version",
)
#: the packages whose code loads the grid
_CACHE_PACKAGES = ("grid2op", "lightsim2grid", "pandapower", "pandas", "numpy", "scipy")
#: attributes of the loaded backend not kept: grid2op's pandapower backend lightsim2grid loaded
#: the grid with (used for nothing after the load; its copies carry it, or None) and the
#: constructor's arguments (part of the key, kept from the backend being loaded)
_NOT_CACHED = ("_init_pp_backend", "_my_kwargs")


def grid_cache_folder(grid_cache: str | os.PathLike[str] | bool | None = None) -> Path | None:
    """The folder of the grid cache :func:`make_env` uses, or None when it is off.

    Making an environment loads its grid file through pandapower (about 0.7 s on case14, most of
    the time of making it). :func:`make_env` writes the backend as it stands after that load to
    this folder, one JSON file per key, and the next load with the same key restores it instead
    (a few milliseconds). The key is the SHA-256 of the grid file's bytes, the backend's settings
    and the versions of grid2op, lightsim2grid, pandapower, pandas, NumPy, SciPy and Python: a
    file of the cache cannot be stale, it is another key. Files are written atomically and
    checked on reading (format, key, a checksum of their content, what they restore); one that
    fails is ignored (logged at INFO) and the grid is loaded through pandapower and cached
    again. The files hold no pickle: reading one runs no code.

    Parameters
    ----------
    grid_cache : path-like or bool, optional
        None: the folder :data:`GRID_CACHE_ENV` names, ``off`` there for none, by default
        ``$XDG_CACHE_HOME/gridoracle/grids`` (``~/.cache/gridoracle/grids``). False: none. True:
        that default folder. A path: that folder.

    Examples
    --------
    >>> grid_cache_folder(False) is None
    True
    >>> grid_cache_folder("/tmp/grids").as_posix()
    '/tmp/grids'
    """
    if grid_cache is False:
        return None
    if grid_cache is None:
        value = os.environ.get(GRID_CACHE_ENV)
        if value is not None:
            if value.strip().lower() in _CACHE_OFF:
                return None
            return Path(value).expanduser()
    if grid_cache is None or grid_cache is True:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        return Path(base) / "gridoracle" / "grids"
    return Path(grid_cache).expanduser()


def load_grid_through_cache(backend: Any, folder: Path) -> None:
    """Make the first ``backend.load_grid`` go through the grid cache in ``folder``.

    For backends that grid2op makes itself (its Runner makes one per episode); ``make_env``
    does this for its own. Use :func:`grid_cache_folder` for the folder (None: no cache).
    """
    load: Callable[..., None] = backend.load_grid

    def load_grid(path: Any, filename: Any = None) -> None:
        del backend.load_grid  # this first load only; the class's method afterwards
        _cached_load(backend, load, folder, path, filename)

    backend.load_grid = load_grid


def _cached_load(
    backend: Any, load: Callable[..., None], folder: Path, path: Any, filename: Any
) -> None:
    """Restore ``backend`` from the cache, else ``load`` the grid and cache the result."""
    from grid2op.Exceptions import Grid2OpException

    try:
        grid_file = Path(backend.make_complete_path(path, filename))
        key, parts = _grid_cache_key(backend, grid_file)
    except (OSError, Grid2OpException):  # no grid file: the load says so, as without a cache
        load(path, filename)
        return
    file = folder / f"{key}.json"
    state = _read_grid_state(file, key, set(backend.__dict__))
    if state is not None:
        backend.__dict__.update(state)
        backend._init_pp_backend = None
        return
    load(path, filename)
    _write_grid_state(file, key, parts, backend)


def _grid_cache_key(backend: Any, grid_file: Path) -> tuple[str, dict[str, Any]]:
    cls = type(backend)
    parts = {
        "format": [_CACHE_FORMAT, _CACHE_VERSION],
        "grid_sha256": file_sha256(grid_file),
        "backend": f"{cls.__module__}.{cls.__qualname__}",
        "backend_kwargs": repr(sorted(backend._my_kwargs.items())),
        "class": {name: repr(getattr(cls, name, None)) for name in _CLASS_KEYS},
        "versions": _versions(),
    }
    return config_hash(parts), parts


def _versions() -> dict[str, str]:
    """:func:`gridoracle.io.versions` of the packages that load a grid, read from the modules
    when they are imported (as they are here: grid2op imports them) rather than from their
    metadata (10 ms)."""
    import sys

    from gridoracle import __version__

    found = {name: getattr(sys.modules.get(name), "__version__", None) for name in _CACHE_PACKAGES}
    if not all(isinstance(v, str) for v in found.values()):
        return versions(*_CACHE_PACKAGES)
    return {"gridoracle": __version__, "python": sys.version.split()[0]} | {
        k: str(v) for k, v in found.items()
    }


def _read_grid_state(file: Path, key: str, fresh: set[str]) -> dict[str, Any] | None:
    """The backend's state in ``file`` if it is a valid entry for ``key``, else None (logged).

    ``fresh``: the attributes of the backend before its load, which the state must all hold.
    """
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        log.debug("grid cache: no %s, the grid is loaded through pandapower", file)
        return None
    except OSError as exc:
        log.info("grid cache: cannot read %s (%s); the grid is loaded again", file, exc)
        return None
    try:
        header, _, payload = data.partition(b"\n")
        head = json.loads(header)
        if head.get("format") != _CACHE_FORMAT or head.get("version") != _CACHE_VERSION:
            raise ValueError(f"not a version {_CACHE_VERSION} file")
        if head.get("key") != key:
            raise ValueError("another key")
        if head.get("payload_sha256") != hashlib.sha256(payload).hexdigest():
            raise ValueError("its content does not match its checksum")
        state = _decode(json.loads(payload))
        _check_state(state, fresh)
    except Exception as exc:  # any fault of a cache file (a grid state too) means: load the grid
        log.info("grid cache: %s is not usable (%s); the grid is loaded again", file, exc)
        return None
    return state


def _check_state(state: Any, fresh: set[str]) -> None:
    """Raise ValueError unless ``state`` is what a loaded LightSimBackend holds."""
    from lightsim2grid.lightsim2grid_cpp import LSGrid

    if not isinstance(state, dict):
        raise ValueError("not a mapping of attributes")
    missing = sorted(fresh - set(state) - set(_NOT_CACHED))
    if missing:
        raise ValueError(f"missing attributes {missing[:5]}")
    grids = [state.get("_grid"), state.get("_LightSimBackend__me_at_init")]
    if not all(isinstance(grid, LSGrid) for grid in grids):
        raise ValueError("no grid model")
    n_line = state.get("n_line")
    if not isinstance(n_line, int) or len(state.get("name_line", ())) != n_line:
        raise ValueError("inconsistent line count")


def _write_grid_state(file: Path, key: str, parts: dict[str, Any], backend: Any) -> None:
    """Cache ``backend``'s state as ``file`` (best effort: a failure is logged, nothing else)."""
    state = {k: v for k, v in backend.__dict__.items() if k not in _NOT_CACHED}
    try:
        encoded = _encode(state)
        _check_round_trip(state, encoded)
        payload = json.dumps(encoded, separators=(",", ":")).encode()
        header = {
            "format": _CACHE_FORMAT,
            "version": _CACHE_VERSION,
            "key": key,
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
            "key_parts": parts,
        }
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write_bytes(file, canonical_json(header) + b"\n" + payload)
    except (TypeError, ValueError) as exc:
        log.info("grid cache: this grid is not cached (%s)", exc)
    except OSError as exc:
        log.info("grid cache: cannot write %s (%s)", file, exc)


def _check_round_trip(state: dict[str, Any], encoded: Any) -> None:
    """Raise ValueError unless decoding ``encoded`` gives back ``state``, grid models included.

    Shared objects are refused (the decoding would part them), and each grid model is compared
    with its decoded copy on what its state does not spell out (its Python-side properties) and
    on an AC power flow.
    """
    seen: dict[int, str] = {}
    for name, value in state.items():
        if isinstance(value, np.ndarray | list | dict):
            for obj in (value, value.base if isinstance(value, np.ndarray) else None):
                if obj is not None and seen.setdefault(id(obj), name) != name:
                    raise ValueError(f"{name} and {seen[id(obj)]} share their data")
    decoded = _decode(json.loads(json.dumps(encoded)))
    if json.dumps(_encode(decoded)) != json.dumps(encoded):
        raise ValueError("its encoding does not decode to itself")
    for name in ("_grid", "_LightSimBackend__me_at_init"):
        if not _same_grid_model(state[name], decoded[name]):
            raise ValueError(f"{name} is not restored the same by its state")


def _same_grid_model(a: Any, b: Any) -> bool:
    for name in ("_ls_to_orig", "_orig_to_ls", "_bus_fusion_rep", "_max_nb_bus_per_sub"):
        if not np.array_equal(getattr(a, name, -1), getattr(b, name, -1)):
            return False
    getters = ("get_algo_type", "get_dc_algo_type", "get_init_vm_pu", "get_sn_mva", "get_n_sub")
    if any(getattr(a, g)() != getattr(b, g)() for g in getters):
        return False
    results = []
    for grid in (a.copy(), b.copy()):
        v0 = np.full(grid.total_bus(), grid.get_init_vm_pu(), dtype=np.complex128)
        v = grid.ac_pf(v0, 10, 1e-8)
        # the results are views of the grid's memory: copied while it lives
        results.append([np.array(x) for x in (v, *grid.get_line_res1(), *grid.get_gen_res())])
    return all(np.array_equal(x, y, equal_nan=True) for x, y in zip(*results, strict=True))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _encode(value: Any) -> Any:
    """``value`` as JSON, tagged where JSON has no type of its own; TypeError if it cannot be.

    Holds what a loaded LightSimBackend holds: None, bools, ints, floats, strings, lists, tuples,
    dicts with string keys, complex numbers, NumPy arrays (not of objects) and scalars,
    lightsim2grid's algorithm types and grid models (by their pickle state).
    """
    from lightsim2grid.lightsim2grid_cpp import AlgorithmType, LSGrid

    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if kind is list:
        return [_encode(v) for v in value]
    if kind is tuple:
        return {"tuple": [_encode(v) for v in value]}
    if kind is dict and all(type(k) is str for k in value):
        return {"dict": {k: _encode(v) for k, v in value.items()}}
    if kind is complex:
        return {"complex": [value.real, value.imag]}
    if kind is np.ndarray and not value.dtype.hasobject:
        data = _b64(np.ascontiguousarray(value).tobytes())
        return {"array": [value.dtype.str, list(value.shape), data, bool(value.flags.writeable)]}
    if isinstance(value, np.generic) and not value.dtype.hasobject:
        return {"scalar": [value.dtype.str, _b64(value.tobytes())]}
    if kind is AlgorithmType:
        return {"algorithm": value.name}
    if kind is LSGrid:
        return {"grid": _encode(value.__getstate__())}
    raise TypeError(f"a {kind.__module__}.{kind.__qualname__} cannot be cached")


def _decode(value: Any) -> Any:
    """The inverse of :func:`_encode`; ValueError on anything it would not have written."""
    from lightsim2grid.lightsim2grid_cpp import AlgorithmType, LSGrid

    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is list:
        return [_decode(v) for v in value]
    if type(value) is not dict or len(value) != 1:
        raise ValueError(f"unexpected {type(value).__name__}")
    ((tag, body),) = value.items()
    if tag == "tuple":
        return tuple(_decode(v) for v in body)
    if tag == "dict":
        return {str(k): _decode(v) for k, v in body.items()}
    if tag == "complex":
        return complex(float(body[0]), float(body[1]))
    if tag in ("array", "scalar"):
        dtype = np.dtype(body[0])
        if dtype.hasobject:
            raise ValueError("an array of objects")
        raw = base64.b64decode(body[-2] if tag == "array" else body[1], validate=True)
        if tag == "scalar":
            return np.frombuffer(raw, dtype=dtype)[0]
        array = np.frombuffer(raw, dtype=dtype).reshape([int(n) for n in body[1]]).copy()
        array.flags.writeable = bool(body[3])
        return array
    if tag == "algorithm":
        return AlgorithmType.__members__[str(body)]
    if tag == "grid":
        grid = LSGrid.__new__(LSGrid)
        grid.__setstate__(_decode(body))
        return grid
    raise ValueError(f"unknown tag {tag!r}")


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
