"""``gridoracle agents evaluate``: the agents of :mod:`gridoracle.agent` played by grid2op's Runner.

For an environment, a set of chronics and a model folder (``gridoracle train``), each agent plays
each chronic once in grid2op's :class:`~grid2op.Runner.Runner`:

- ``do_nothing``: grid2op's ``DoNothingAgent``;
- ``greedy``: :class:`~gridoracle.agent.GreedyAgent` over the model's catalogue (the expert: it
  simulates every legal action when max rho reaches the threshold);
- ``random_<k>``: :class:`~gridoracle.agent.RandomKAgent`, k random legal actions simulated;
- ``screening_<k>``: :class:`~gridoracle.agent.ScreeningAgent`, the k legal actions of lowest
  predicted max rho simulated.

With ``recover`` (``--recover R``), greedy, random-k and screening-k also return a substation to
the episode's initial topology when max rho is below R (see :mod:`gridoracle.agent.agents`; do
nothing is unaffected); their recovery calls count in ``simulate_calls`` and in the
``recovery_calls`` column, the recoveries played in ``recovery_steps``.

One work unit is one (agent, chronic): a single-process Runner (``nb_process=1``) in a worker of
:func:`gridoracle.parallel.map_units`, so that the agent that played comes back with its counters
(simulate calls, decision time per acting step). Seeds: every agent gets the same environment and
agent seed on a chronic, drawn from ``--seed`` and the chronic index (:func:`episode_seeds`), so
results do not depend on the number of workers. The environment's reward is grid2op's
``L2RPNReward``.

The Oracle (:func:`gridoracle.pipelines.oracle.run_oracle`, depth 1 over the same catalogue, its
reward table on ``L2RPNReward``) runs on each chronic as another unit; its two best paths (the best
path, and the best path without overload) are both replayed under the real rules, and the bound
each agent is compared to (``oracle_reward``, ``oracle_steps``, ``oracle_path`` and the gap
columns) is the replayed path that survives the most steps, then of the highest replayed reward
(:func:`oracle_bound`): the best path's planned value assumes it survives, which the real rules
may deny (rte_case14_realistic chronic 1: it dies at step 1,381).

Outputs under ``out``: ``episodes/<agent>/`` (the Runner's ``path_save``: one episode folder per
chronic, grid2op's own format, plus a ``gridoracle_result.json`` per episode), ``oracle/``,
``results.csv``, ``results.json``, ``summary.json``, three figures and ``report.html``. Each
(agent, chronic) is written to a temporary folder and renamed into place when complete: a rerun
skips those whose configuration hash matches (``force`` plays them again), and an interrupted run
leaves no half-written episode.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np

# first, so that grid2op is imported under gridoracle.grid's guard against its import-time noise
import gridoracle.grid  # noqa: F401

# isort: split
from gridoracle.actions.catalogue import save_catalogue
from gridoracle.actions.model import DONOTHING, LINE_OFF, LINE_ON, TOPOLOGY, CatalogueAction
from gridoracle.errors import GridOracleError, InvalidOption, ModelError, OutputError
from gridoracle.grid import chronic_names, env_label, make_env, resolve_chronics
from gridoracle.io import (
    atomic_write_bytes,
    atomic_write_json,
    check_writable,
    config_hash,
    file_sha256,
    fsync_dir,
    json_safe,
    versions,
)
from gridoracle.parallel import SERIAL, Backend, map_units
from gridoracle.progress import SILENT, Progress

__all__ = [
    "AGENT_KINDS",
    "ORACLE_BOUND_RULE",
    "ORACLE_PATHS",
    "RESULT_COLUMNS",
    "TIMING_COLUMNS",
    "AgentSpec",
    "AgentsReport",
    "AgentsRequest",
    "agent_specs",
    "episode_seeds",
    "evaluate_agents",
    "oracle_bound",
    "parse_k_list",
]

log = logging.getLogger(__name__)

#: the kinds of agents evaluated, in the order of the tables
AGENT_KINDS: tuple[str, ...] = ("do_nothing", "greedy", "random", "screening")
#: the columns of results.csv, in order (one row per agent and chronic)
RESULT_COLUMNS: tuple[str, ...] = (
    "agent",
    "kind",
    "k",
    "chronic",
    "steps",
    "max_steps",
    "reward",
    "acting_steps",
    "simulate_calls",
    "recovery_steps",
    "recovery_calls",
    "calls_per_acting_step",
    "decision_s_per_acting_step",
    "oracle_reward",
    "oracle_steps",
    "oracle_path",
    "reward_gap",
    "steps_gap",
    "chronic_name",
    "game_over",
    "runner_steps",
    "decision_s_per_acting_step_grid2op",
)
#: the columns that are measured times (they differ between two runs of the same inputs)
TIMING_COLUMNS: tuple[str, ...] = (
    "decision_s_per_acting_step",
    "decision_s_per_acting_step_grid2op",
)
#: the Oracle's two best paths (depth 1), both replayed under the real rules
ORACLE_PATHS: tuple[str, ...] = ("best path", "best path without overload")
#: how the bound of the gap columns is chosen among the replayed :data:`ORACLE_PATHS`
ORACLE_BOUND_RULE = (
    "of the Oracle's best path and best path without overload, both replayed under the real "
    "rules: the one that survives the most steps, then of the highest replayed reward"
)
#: the version of the Oracle's record (part of its key: an earlier version's is run again)
ORACLE_RECORD_VERSION = 3
#: the file each finished episode folder holds beside grid2op's files
RESULT_FILE = "gridoracle_result.json"
#: the reward every episode is scored with (the Oracle's table and replay too)
REWARD = "L2RPNReward"
#: the Oracle's catalogue file under ``out/oracle`` (the model's catalogue)
ORACLE_CATALOGUE = "catalogue.json"
_TMP_PREFIX = ".tmp-"
#: the version of what an episode's record holds and means: part of its configuration hash, so
#: that records of an earlier version are played again
RECORD_VERSION = 1


# --------------------------------------------------------------------------------------------------
# Requests and agents
# --------------------------------------------------------------------------------------------------


def parse_k_list(text: str | Sequence[int]) -> tuple[int, ...]:
    """The k values of ``--k`` (``"1,5,10,20"``), each at least 1, duplicates dropped.

    Examples
    --------
    >>> parse_k_list("1,5, 10,5")
    (1, 5, 10)
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    values: list[int] = []
    for item in items:
        token = str(item).strip()
        try:
            value = int(token)
        except ValueError:
            raise InvalidOption(
                f"k {token!r}: not an integer (give a list such as 1,5,10,20)", param="k"
            ) from None
        if value < 1:
            raise InvalidOption(f"k {value}: must be at least 1", param="k")
        values.append(value)
    if not values:
        raise InvalidOption("k: give at least one value (e.g. 1,5,10,20)", param="k")
    return tuple(dict.fromkeys(values))


@dataclass(frozen=True)
class AgentSpec:
    """One agent of the evaluation: its name (``screening_10``), kind and k (None if none)."""

    name: str
    kind: str
    k: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "k": self.k}


def agent_specs(ks: Sequence[int]) -> list[AgentSpec]:
    """Do nothing, greedy, then random-k and screening-k for each k (in that order).

    Examples
    --------
    >>> [s.name for s in agent_specs([1, 5])]
    ['do_nothing', 'greedy', 'random_1', 'random_5', 'screening_1', 'screening_5']
    """
    specs = [AgentSpec("do_nothing", "do_nothing"), AgentSpec("greedy", "greedy")]
    specs += [AgentSpec(f"random_{k}", "random", k) for k in ks]
    specs += [AgentSpec(f"screening_{k}", "screening", k) for k in ks]
    return specs


@dataclass(frozen=True)
class AgentsRequest:
    """What ``gridoracle agents evaluate`` runs (see :func:`evaluate_agents`).

    Attributes
    ----------
    env : str
        Environment name or folder.
    chronics : str
        Chronic selection (``"1"``, ``"0-2"``, ``"all"``; see
        :func:`gridoracle.grid.resolve_chronics`).
    model : Path
        A model folder written by ``gridoracle train``; its catalogue is every agent's.
    out : Path
        Output folder.
    k : sequence of int
        The k of random-k and screening-k.
    threshold : float
        Max rho from which the agents act.
    max_steps : int, optional
        Steps per episode at most (None: the whole chronic).
    seed : int
        Seed of the environment and agent seeds (:func:`episode_seeds`).
    oracle : bool
        Also run the Oracle on each chronic.
    force : bool
        Play every (agent, chronic) again, and the Oracle, even when a finished one matches.
    recover : float, optional
        Max rho below which greedy, random-k and screening-k return to the reference topology
        (``0 < recover <= threshold``); None: never.
    """

    env: str
    chronics: str
    model: Path
    out: Path
    k: tuple[int, ...] = (1, 5, 10, 20)
    threshold: float = 0.95
    max_steps: int | None = None
    seed: int = 0
    oracle: bool = True
    force: bool = False
    recover: float | None = None


@dataclass
class AgentsReport:
    """What :func:`evaluate_agents` found and wrote."""

    out: Path
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    ran: int
    reused: int
    oracle_ran: int = 0
    oracle_reused: int = 0
    figures: list[Path] = field(default_factory=list)
    report_path: Path | None = None
    warnings: list[str] = field(default_factory=list)


def episode_seeds(seed: int, chronic: int) -> tuple[int, int]:
    """The environment and agent seeds of ``chronic``: the same for every agent.

    Drawn from ``numpy.random.SeedSequence([seed, chronic])``, so that they depend only on the
    seed and the chronic, not on the order or the number of workers.

    Examples
    --------
    >>> episode_seeds(0, 1) == episode_seeds(0, 1) != episode_seeds(0, 2)
    True
    """
    a, b = np.random.SeedSequence([int(seed), int(chronic)]).generate_state(2)
    return int(a) % (2**31 - 1), int(b) % (2**31 - 1)


# --------------------------------------------------------------------------------------------------
# The work units
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    """One (agent, chronic) episode, self-contained (it runs in any worker)."""

    env: str
    chronic: int
    chronic_name: str
    spec: AgentSpec
    model: str
    threshold: float
    max_steps: int | None
    env_seed: int
    agent_seed: int
    folder: str  # the agent's path_save (out/episodes/<agent>)
    key: str  # config hash
    recover: float | None = None  # return to the reference topology below this max rho


@dataclass(frozen=True)
class _OracleTask:
    """The Oracle on one chronic."""

    env: str
    chronic: int
    chronic_name: str
    catalogue: str
    max_iter: int
    seed: int
    out: str
    key: str
    resume: bool = True  # reuse the Oracle's cached reward chunks (False with --force)


def _make_runner_env(env: str) -> Any:
    """The environment the agents are scored in: ``env`` with grid2op's L2RPNReward."""
    from grid2op.Reward import L2RPNReward

    return make_env(env, reward_class=L2RPNReward)


def _worker(env: str) -> dict[str, Any]:
    """This process's environment of ``env`` and the models it has loaded (by folder)."""
    from gridoracle.parallel import worker_state

    return worker_state(("agents", env), lambda: {"env": _make_runner_env(env), "models": {}})


def build_agent(
    spec: AgentSpec,
    action_space: Any,
    model: Any,
    threshold: float,
    actions: Any = None,
    recover: float | None = None,
) -> Any:
    """The grid2op agent of ``spec`` on ``action_space``.

    ``model`` is a model folder or a loaded :class:`~gridoracle.models.persist.Predictor`;
    ``actions`` (default: the model's catalogue) the catalogue of greedy and random-k;
    ``recover`` the max rho below which they return to the reference topology (not do nothing).
    """
    if spec.kind == "do_nothing":
        from grid2op.Agent import DoNothingAgent

        return DoNothingAgent(action_space)
    from gridoracle.agent import GreedyAgent, RandomKAgent, ScreeningAgent, load_catalogue

    if spec.kind == "screening":
        return ScreeningAgent(
            action_space,
            model,
            k=int(spec.k or 1),
            threshold=threshold,
            actions=actions,
            recover=recover,
        )
    catalogue = actions if actions is not None else load_catalogue(model, action_space)
    if spec.kind == "greedy":
        return GreedyAgent(action_space, catalogue, threshold=threshold, recover=recover)
    if spec.kind == "random":
        return RandomKAgent(
            action_space, catalogue, k=int(spec.k or 1), threshold=threshold, recover=recover
        )
    raise ValueError(f"unknown agent kind {spec.kind!r}")


def _worker_agent(task: _Task, worker: dict[str, Any]) -> Any:
    """The agent of ``task``, its model and catalogue loaded once per process."""
    env = worker["env"]
    if task.spec.kind == "do_nothing":
        return build_agent(task.spec, env.action_space, task.model, task.threshold)
    if task.model not in worker["models"]:
        from gridoracle.agent import load_catalogue
        from gridoracle.agent.catalogue import load_predictor

        predictor = load_predictor(task.model)
        worker["models"][task.model] = (predictor, load_catalogue(predictor, env.action_space))
    predictor, catalogue = worker["models"][task.model]
    return build_agent(
        task.spec, env.action_space, predictor, task.threshold, catalogue, task.recover
    )


def _run_unit(unit: _Task | _OracleTask) -> dict[str, Any]:
    """Run one unit (module level: it runs in worker processes)."""
    if isinstance(unit, _OracleTask):
        return _run_oracle_unit(unit)
    return _run_episode_unit(unit)


def _run_episode_unit(task: _Task) -> dict[str, Any]:
    """Play ``task`` with grid2op's Runner into a temporary folder, then rename it into place."""
    worker = _worker(task.env)
    env = worker["env"]
    agent = _worker_agent(task, worker)
    folder = Path(task.folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=f"{_TMP_PREFIX}{task.chronic_name}."))
    try:
        runner = _worker_runner(worker, agent)
        tick = time.perf_counter()
        (result,) = runner.run(
            nb_episode=1,
            nb_process=1,
            path_save=str(tmp),
            episode_id=[task.chronic],
            env_seeds=[task.env_seed],
            agent_seeds=[task.agent_seed],
            max_iter=task.max_steps,
            add_detailed_output=True,
        )
        seconds = time.perf_counter() - tick
        played = runner.agent  # the Runner plays a copy of the agent: the copy holds the counters
        record = _episode_record(task, result, played, env, seconds)
        atomic_write_json(tmp / task.chronic_name / RESULT_FILE, record)
        _publish_episode(tmp, folder, task.chronic_name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return record


def _worker_runner(worker: dict[str, Any], agent: Any) -> Any:
    """This process's Runner of the environment, set to play ``agent``.

    Building a Runner costs about a second on case14 (it is made once per process). It is made
    with ``env.get_params_for_runner()`` and the first agent as ``agentInstance``; each later
    episode sets ``runner.agent`` (what ``Runner._new_env`` copies into every episode it plays)
    and ``runner.agentInstance`` to the next agent. Every agent of the evaluation can be copied,
    as the first could.
    """
    runner = worker.get("runner")
    if runner is None:
        env = worker["env"]
        runner = _runner_class()(
            **env.get_params_for_runner(), agentClass=None, agentInstance=agent
        )
        worker["runner"] = runner
    runner.agent = agent
    runner.agentInstance = agent
    return runner


def _runner_class() -> type:
    """grid2op's Runner, its environments' grids loaded through gridoracle's grid cache.

    grid2op makes a new environment for every episode it plays; its backend's grid goes through
    pandapower each time (about 1 s of a 30-step episode's 1.2 s on case14) unless the backend is
    restored from the cache :func:`gridoracle.grid.make_env` keeps (the same state: the hand-run
    test plays in an environment of ``make_env`` and compares). Nothing else changes.
    """
    from grid2op.Runner import Runner

    from gridoracle.grid import grid_cache_folder, load_grid_through_cache

    class CachedGridRunner(Runner):  # type: ignore[misc]
        def _make_new_backend(self) -> Any:
            backend = super()._make_new_backend()
            folder = grid_cache_folder()
            if folder is not None:
                load_grid_through_cache(backend, folder)
            return backend

    return CachedGridRunner


def _publish_episode(tmp: Path, folder: Path, name: str) -> None:
    """Move the Runner's files from ``tmp`` into ``folder``: the episode folder by one rename.

    The Runner's ``dict_*.json`` (the action and observation spaces, the same for every episode)
    are replaced one by one (each rename atomic); the episode folder ``folder/name`` replaces an
    earlier one only once complete.
    """
    for item in sorted(tmp.iterdir()):
        if item.is_file():
            os.replace(item, folder / item.name)
    target = folder / name
    old = None
    if target.exists():
        old = folder / f"{_TMP_PREFIX}{name}.old-{os.getpid()}"
        os.replace(target, old)
    os.replace(tmp / name, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    fsync_dir(folder)


def _attr_slice(observation_space: Any, name: str) -> slice:
    """Where the attribute ``name`` (``rho``, ``topo_vect``) lies in an observation's vector."""
    template = observation_space._template_obj
    shapes = [int(s) for s in template.shapes()]
    names = list(type(template).attr_list_vect)
    start = sum(shapes[: names.index(name)])
    return slice(start, start + shapes[names.index(name)])


def _episode_record(
    task: _Task, result: Sequence[Any], agent: Any, env: Any, seconds: float
) -> dict[str, Any]:
    """The facts of one played episode (the content of its ``gridoracle_result.json``)."""
    _path, _name, cum_reward, runner_steps, max_ts, episode = result[:6]
    n = int(runner_steps)
    rewards = np.asarray(episode.rewards, dtype=np.float64)[:n]
    vectors = np.asarray(episode.observations.collection, dtype=np.float64)[1 : n + 1]
    rho = vectors[:, _attr_slice(env.observation_space, "rho")]
    topo = vectors[:, _attr_slice(env.observation_space, "topo_vect")]
    # the observation of a game over: every element off its bus (topo_vect -1), rho 0
    valid: np.ndarray = np.isfinite(rho).all(axis=1) & ~(topo == -1).all(axis=1)
    # a game over's step is played (the Runner counts it), not survived
    game_over = bool(n > 0 and not valid[-1])
    survived = n - 1 if game_over else n
    max_rho = [float(v) if ok else None for v, ok in zip(rho.max(axis=1), valid, strict=True)]
    times = np.asarray(episode.times, dtype=np.float64)[:n]
    counters = _agent_counters(agent)
    acting = counters["acting_step_indices"]
    grid2op_times = [float(times[i]) for i in acting if 0 <= i < n]
    acting_steps = int(counters["acting_steps"])
    calls = int(counters["simulate_calls"])
    recovery_calls = int(counters["recovery_calls"])
    return {
        "key": task.key,
        "agent": task.spec.name,
        "kind": task.spec.kind,
        "k": task.spec.k,
        "chronic": task.chronic,
        "chronic_name": task.chronic_name,
        "env_seed": task.env_seed,
        "agent_seed": task.agent_seed,
        "steps": survived,
        "runner_steps": n,
        "max_steps": int(max_ts),
        "game_over": game_over,
        "reward": float(np.sum(rewards)),
        "runner_cum_reward": float(cum_reward),
        "acting_steps": acting_steps,
        "simulate_calls": calls,
        "recovery_steps": int(counters["recovery_steps"]),
        "recovery_calls": recovery_calls,
        "recovery_attempts": int(counters["recovery_attempts"]),
        "recovery_s_per_attempt": counters["recovery_s_per_attempt"],
        # the acting steps' own calls (a recovery's are not an acting step's)
        "calls_per_acting_step": (calls - recovery_calls) / acting_steps if acting_steps else None,
        "decision_s_per_acting_step": counters["decision_s_per_acting_step"],
        "decision_s_per_acting_step_grid2op": (
            float(np.mean(grid2op_times)) if grid2op_times else None
        ),
        "actions_played": counters["actions_played"],
        "max_rho": max_rho,
        "seconds": seconds,
    }


def _agent_counters(agent: Any) -> dict[str, Any]:
    """Simulate calls, acting steps, recoveries and decision times of an agent of
    :mod:`gridoracle.agent`.

    grid2op's ``DoNothingAgent`` has none: it never acts, never simulates. ``actions_played``
    counts the actions of the acting steps and the recoveries played.
    """
    if not hasattr(agent, "summary"):
        return {
            "simulate_calls": 0,
            "acting_steps": 0,
            "decision_s_per_acting_step": None,
            "acting_step_indices": [],
            "actions_played": {},
            "recovery_steps": 0,
            "recovery_calls": 0,
            "recovery_attempts": 0,
            "recovery_s_per_attempt": None,
        }
    from gridoracle.agent.agents import ACT, RECOVERY
    from gridoracle.agent.agents import DONOTHING as NOTHING_PLAYED

    summary = agent.summary()
    acting = [r for r in agent.records if r.get("kind", ACT) == ACT]
    played = acting + [
        r for r in agent.records if r.get("kind") == RECOVERY and r["action"] != NOTHING_PLAYED
    ]
    return {
        "simulate_calls": int(summary["simulate_calls"]),
        "acting_steps": int(summary["acting_steps"]),
        "decision_s_per_acting_step": summary["decision_seconds_mean"],
        # the index in the episode's arrays (step 1 → 0) of each acting step
        "acting_step_indices": [int(r["step"]) for r in acting],
        "actions_played": dict(sorted(Counter(str(r["action"]) for r in played).items())),
        "recovery_steps": int(summary.get("recovery_steps", 0)),
        "recovery_calls": int(summary.get("recovery_calls", 0)),
        "recovery_attempts": int(summary.get("recovery_attempts", 0)),
        "recovery_s_per_attempt": summary.get("recovery_seconds_mean"),
    }


def _run_oracle_unit(task: _OracleTask) -> dict[str, Any]:
    """The Oracle on one chronic; its best path replayed under the real rules."""
    from gridoracle.oracle.config import OracleConfig
    from gridoracle.pipelines.oracle import OracleRequest, run_oracle

    settings = OracleConfig(max_depth=1, max_iter=task.max_iter, nb_process=1)
    request = OracleRequest(
        env=task.env,
        chronic=task.chronic,
        actions_file=Path(task.catalogue),
        settings=settings,
        out=Path(task.out),
        seed=task.seed,
        reward="l2rpn",
        replay=True,
        resume=task.resume,
    )
    record: dict[str, Any] = {
        "key": task.key,
        "chronic": task.chronic,
        "chronic_name": task.chronic_name,
        "max_iter": task.max_iter,
        "seed": task.seed,
        "reward_class": REWARD,
    }
    try:
        report = run_oracle(request, SERIAL)
    except GridOracleError as exc:  # e.g. an action the Oracle cannot combine: said, not fatal
        record.update(error=str(exc), steps=None, reward=None)
        return record
    found = {"best path": report.best, "best path without overload": report.best_no_overload}
    paths: dict[str, dict[str, Any]] = {}
    for label in ORACLE_PATHS:
        replayed = next((r for r in report.replays if r.label == label), None)
        path = found[label]
        names = report.path_names(path)
        # the path as (action, consecutive steps) runs
        runs = [[name, len(list(steps))] for name, steps in groupby(names)]
        paths[label] = {
            "value": float(path.reward) if names else None,
            "actions": runs,
            "steps_planned": None if replayed is None else int(replayed.steps_planned),
            "steps": None if replayed is None else int(replayed.steps_survived),
            "reward": None if replayed is None else float(replayed.reward),
        }
    bound = oracle_bound(paths)
    chosen = paths[bound] if bound is not None else {}
    record.update(
        folder=str(report.folder),
        paths=paths,
        bound=bound,
        best_path_value=paths["best path"]["value"],
        best_path_actions=sorted({name for name, _ in paths["best path"]["actions"]}),
        best_path_file=str(report.folder / "best_path.json"),
        steps=chosen.get("steps"),
        steps_planned=chosen.get("steps_planned"),
        reward=chosen.get("reward"),
        warnings=list(report.warnings),
    )
    return record


def oracle_bound(paths: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The Oracle path the agents are compared to (:data:`ORACLE_BOUND_RULE`): its label.

    Parameters
    ----------
    paths : mapping
        Label (of :data:`ORACLE_PATHS`) to its replay: ``steps`` survived and ``reward`` under
        the real rules (None where the path was not replayed).

    Returns
    -------
    str or None
        The replayed path that survives the most steps, then of the highest replayed reward,
        then the first of :data:`ORACLE_PATHS`; None when none was replayed.
    """
    replayed = [
        (int(p["steps"]), float(p["reward"]), -i, label)
        for i, (label, p) in enumerate((lb, paths[lb]) for lb in ORACLE_PATHS if lb in paths)
        if p.get("steps") is not None and p.get("reward") is not None
    ]
    return max(replayed)[3] if replayed else None


# --------------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------------


@dataclass
class _Setup:
    """What the checks found: the chronics, the catalogue, the seeds; nothing written yet."""

    env_name: str
    chronics: list[int]
    names: list[str]
    lengths: dict[int, int]
    catalogue: list[Any]
    model_sha: str
    grid: Any
    versions: dict[str, str]


def _check_request(request: AgentsRequest) -> _Setup:
    """Every check that can fail on the user's input, before anything is written."""
    if not (isinstance(request.threshold, int | float) and math.isfinite(request.threshold)):
        raise InvalidOption(f"threshold {request.threshold}: not a number", param="threshold")
    if request.threshold < 0:
        raise InvalidOption(f"threshold {request.threshold}: must be at least 0", param="threshold")
    if request.max_steps is not None and request.max_steps < 1:
        raise InvalidOption(f"max_steps {request.max_steps}: must be at least 1", param="max_steps")
    _check_recover(request.recover, float(request.threshold))
    parse_k_list(list(request.k))
    _check_output(Path(request.out))
    env = make_env(request.env)
    try:
        try:
            chronics = resolve_chronics(env, request.chronics)
        except InvalidOption as exc:
            raise InvalidOption(f"chronics {request.chronics}: {exc}", param="chronics") from None
        names_all = chronic_names(env)
        catalogue, model_sha = _model_catalogue(request.model, env)
        lengths = {}
        for c in chronics:
            env.set_id(c)
            env.reset()
            length = int(env.chronics_handler.max_episode_duration())
            lengths[c] = length if request.max_steps is None else min(length, request.max_steps)
        from gridoracle.actions.model import GridLayout

        grid = GridLayout.of(env)
    finally:
        env.close()
    return _Setup(
        env_label(request.env),
        chronics,
        [names_all[c] for c in chronics],
        lengths,
        catalogue,
        model_sha,
        grid,
        versions(),
    )


def _check_recover(recover: Any, threshold: float) -> None:
    """``recover`` is None or a number in (0, threshold]."""
    if recover is None:
        return
    number = isinstance(recover, int | float) and not isinstance(recover, bool)
    if not number or not math.isfinite(recover) or not 0 < recover <= threshold:
        raise InvalidOption(
            f"recover {recover}: must be a number above 0 and at most the threshold "
            f"({threshold:g})",
            param="recover",
        )


def _model_catalogue(model: Path, env: Any) -> tuple[list[Any], str]:
    """The model's catalogue (its actions, checked on ``env``) and a checksum of the model folder.

    The screening agent is built once here, so that a missing or corrupt model folder, or one
    trained on another grid, fails now (one line) rather than in every worker.
    """
    from gridoracle.agent import ScreeningAgent, load_catalogue

    folder = Path(model).expanduser()
    try:
        agent = ScreeningAgent(env.action_space, folder, k=1)
        catalogue = list(load_catalogue(agent.predictor, env.action_space))
    except ModelError as exc:
        if exc.param is None:
            raise type(exc)(str(exc), param="model") from None
        raise
    digest = _folder_sha256(folder)
    return catalogue, digest


def _folder_sha256(folder: Path) -> str:
    """A checksum of a model folder's files (names and bytes), for the configuration hash."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        digest.update(path.name.encode("utf-8") + b"\0" + file_sha256(path).encode("ascii"))
    return digest.hexdigest()


def _check_output(out: Path) -> None:
    """Fail first if ``out`` cannot be made: its nearest existing ancestor must be a writable
    folder (nothing is created here)."""
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(f"{existing} is not writable")
        check_writable(existing)
    except OSError as exc:
        raise OutputError(
            f"out {out}: cannot write the agents' outputs there ({exc.strerror or exc})",
            param="out",
        ) from None


def _task_key(request: AgentsRequest, setup: _Setup, spec: AgentSpec, chronic: int) -> str:
    """The configuration hash of one episode (``recover`` is part of it only when set and not
    for do nothing, so that the records of runs without it stay valid)."""
    env_seed, agent_seed = episode_seeds(request.seed, chronic)
    extra = {}
    if request.recover is not None and spec.kind != "do_nothing":
        extra["recover"] = float(request.recover)
    return config_hash(
        {
            **extra,
            "env": request.env,
            "chronic": chronic,
            "chronic_name": setup.names[setup.chronics.index(chronic)],
            "agent": spec.to_dict(),
            "threshold": float(request.threshold) if spec.kind != "do_nothing" else None,
            "max_steps": request.max_steps,
            "env_seed": env_seed,
            "agent_seed": agent_seed,
            "model": setup.model_sha if spec.kind != "do_nothing" else None,
            "reward": REWARD,
            "record": RECORD_VERSION,
            "versions": {k: setup.versions.get(k) for k in ("grid2op", "lightsim2grid")},
        }
    )


def _read_finished(path: Path, key: str) -> dict[str, Any] | None:
    """The record of a finished unit at ``path`` if it has configuration hash ``key``."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("key") == key else None


def _clean_temporaries(folder: Path) -> None:
    """Remove what an interrupted run left (``.tmp-*`` folders of its unfinished units)."""
    if not folder.is_dir():
        return
    for item in folder.iterdir():
        if item.name.startswith(_TMP_PREFIX) and item.is_dir():
            shutil.rmtree(item, ignore_errors=True)


def _catalogue_actions(catalogue: Sequence[Any]) -> list[CatalogueAction]:
    """The catalogue as :class:`CatalogueAction` for the Oracle (a kind read from the dict when
    the model's catalogue has none)."""
    out = []
    for action in catalogue:
        name, d = str(action.name), dict(action.grid2op)
        kind = getattr(action, "kind", None) or _kind_of(d)
        out.append(CatalogueAction(name=name, kind=kind, grid2op=d))
    return out


def _kind_of(d: Mapping[str, Any]) -> str:
    """The catalogue kind of a grid2op dict."""
    if not d:
        return DONOTHING
    if set(d) == {"set_line_status"}:
        values = [int(v) for _, v in d["set_line_status"]]
        return LINE_ON if values and all(v == 1 for v in values) else LINE_OFF
    return TOPOLOGY


def evaluate_agents(
    request: AgentsRequest, backend: Backend = SERIAL, progress: Progress = SILENT
) -> AgentsReport:
    """Play every agent on every chronic with grid2op's Runner, run the Oracle, write the results.

    Parameters
    ----------
    request : AgentsRequest
        The inputs (checked before anything is written).
    backend : Backend
        Where the (agent, chronic) and Oracle units run.
    progress : Progress
        A stage per phase, ``advance`` per finished unit.

    Returns
    -------
    AgentsReport
        The rows of results.csv, the summary, how many units ran and were reused, the figures.

    Raises
    ------
    GridOracleError
        An unknown environment, a chronic out of range, a missing, corrupt or foreign model
        folder, a k below 1, an unwritable output folder.
    """
    progress.stage("checking the environment, the chronics and the model")
    setup = _check_request(request)
    out = Path(request.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"out {out}: cannot be made ({exc.strerror or exc})", param="out"
        ) from None
    specs = agent_specs(parse_k_list(list(request.k)))
    episodes = out / "episodes"
    tasks: list[_Task] = []
    finished: dict[tuple[str, int], dict[str, Any]] = {}
    for spec in specs:
        folder = episodes / spec.name
        _clean_temporaries(folder)
        for chronic, name in zip(setup.chronics, setup.names, strict=True):
            env_seed, agent_seed = episode_seeds(request.seed, chronic)
            key = _task_key(request, setup, spec, chronic)
            done = None if request.force else _read_finished(folder / name / RESULT_FILE, key)
            if done is not None:
                finished[(spec.name, chronic)] = done
                continue
            tasks.append(
                _Task(
                    request.env,
                    chronic,
                    name,
                    spec,
                    str(Path(request.model).expanduser().resolve()),
                    float(request.threshold),
                    request.max_steps,
                    env_seed,
                    agent_seed,
                    str(folder),
                    key,
                    None if request.recover is None else float(request.recover),
                )
            )
    oracle_tasks, oracle_done = _oracle_tasks(request, setup, out)
    units: list[_Task | _OracleTask] = [*oracle_tasks, *tasks]  # the Oracle's are the longest
    reused = len(finished)
    progress.stage(
        f"{len(tasks)} episodes to play ({reused} finished earlier), "
        f"{len(oracle_tasks)} Oracle runs, on {backend.describe()}"
    )
    total = len(units)
    for i, (unit, record) in enumerate(map_units(_run_unit, units, backend), start=1):
        if isinstance(unit, _OracleTask):
            atomic_write_json(_oracle_record_path(out, unit.chronic_name), json_safe(record))
            oracle_done[unit.chronic] = record
            progress.advance(i, total, f"oracle {unit.chronic_name}")
        else:
            finished[(unit.spec.name, unit.chronic)] = record
            progress.advance(i, total, f"{unit.spec.name} {unit.chronic_name}")
    progress.stage("results, figures and report")
    rows = _rows(specs, setup, finished, oracle_done)
    summary = _summary(request, setup, specs, rows, oracle_done)
    report = AgentsReport(
        out,
        rows,
        summary,
        ran=len(tasks),
        reused=reused,
        oracle_ran=len(oracle_tasks),
        oracle_reused=len(oracle_done) - len(oracle_tasks),
    )
    report.warnings = _warnings(oracle_done)
    summary["warnings"] = report.warnings
    _write_results(out, rows, summary)
    report.figures = _draw(out, rows, specs, setup, finished)
    report.report_path = _write_html(out, rows, summary, report.figures)
    return report


def _oracle_record_path(out: Path, chronic_name: str) -> Path:
    return out / "oracle" / f"result_{chronic_name}.json"


def _oracle_tasks(
    request: AgentsRequest, setup: _Setup, out: Path
) -> tuple[list[_OracleTask], dict[int, dict[str, Any]]]:
    """The Oracle units still to run, and the records of those finished earlier."""
    done: dict[int, dict[str, Any]] = {}
    if not request.oracle:
        return [], done
    folder = out / "oracle"
    folder.mkdir(parents=True, exist_ok=True)
    catalogue = folder / ORACLE_CATALOGUE
    save_catalogue(
        catalogue,
        _catalogue_actions(setup.catalogue),
        env_name=setup.env_name,
        grid=setup.grid,
        extra={"model": str(request.model), "model_sha256": setup.model_sha},
    )
    tasks = []
    for chronic, name in zip(setup.chronics, setup.names, strict=True):
        env_seed, _ = episode_seeds(request.seed, chronic)
        key = config_hash(
            {
                "env": request.env,
                "chronic": chronic,
                "catalogue": file_sha256(catalogue),
                "max_iter": setup.lengths[chronic],
                "seed": env_seed,
                "reward": REWARD,
                "max_depth": 1,
                "record": ORACLE_RECORD_VERSION,
                "versions": {k: setup.versions.get(k) for k in ("grid2op", "lightsim2grid")},
            }
        )
        record = None if request.force else _read_finished(_oracle_record_path(out, name), key)
        if record is not None:
            done[chronic] = record
            continue
        tasks.append(
            _OracleTask(
                request.env,
                chronic,
                name,
                str(catalogue.resolve()),
                setup.lengths[chronic],
                env_seed,
                str((folder / "runs").resolve()),
                key,
                resume=not request.force,
            )
        )
    return tasks, done


def _rows(
    specs: Sequence[AgentSpec],
    setup: _Setup,
    finished: Mapping[tuple[str, int], Mapping[str, Any]],
    oracle: Mapping[int, Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """One row per agent and chronic (agents in :func:`agent_specs` order, chronics as given)."""
    rows = []
    for spec in specs:
        for chronic in setup.chronics:
            r = finished[(spec.name, chronic)]
            o = oracle.get(chronic) or {}
            o_reward, o_steps = o.get("reward"), o.get("steps")
            rows.append(
                {
                    "agent": spec.name,
                    "kind": spec.kind,
                    "k": spec.k,
                    "chronic": chronic,
                    "steps": r["steps"],
                    "max_steps": r["max_steps"],
                    "reward": r["reward"],
                    "acting_steps": r["acting_steps"],
                    "simulate_calls": r["simulate_calls"],
                    # records written before recoveries existed had none
                    "recovery_steps": r.get("recovery_steps", 0),
                    "recovery_calls": r.get("recovery_calls", 0),
                    "calls_per_acting_step": r["calls_per_acting_step"],
                    "decision_s_per_acting_step": r["decision_s_per_acting_step"],
                    "oracle_reward": o_reward,
                    "oracle_steps": o_steps,
                    "oracle_path": o.get("bound"),
                    "reward_gap": None if o_reward is None else o_reward - r["reward"],
                    "steps_gap": None if o_steps is None else o_steps - r["steps"],
                    "chronic_name": r["chronic_name"],
                    "game_over": r["game_over"],
                    "runner_steps": r["runner_steps"],
                    "decision_s_per_acting_step_grid2op": r["decision_s_per_acting_step_grid2op"],
                }
            )
    return rows


def _totals(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-agent totals over the chronics."""
    acting = sum(int(r["acting_steps"]) for r in rows)
    calls = sum(int(r["simulate_calls"]) for r in rows)
    weighted = [
        (float(r["decision_s_per_acting_step"]), int(r["acting_steps"]))
        for r in rows
        if r["decision_s_per_acting_step"] is not None
    ]
    seconds = sum(s * n for s, n in weighted)
    gaps = [r["reward_gap"] for r in rows if r["reward_gap"] is not None]
    steps_gaps = [r["steps_gap"] for r in rows if r["steps_gap"] is not None]
    return {
        "chronics": len(rows),
        "steps": sum(int(r["steps"]) for r in rows),
        "max_steps": sum(int(r["max_steps"]) for r in rows),
        "reward": float(sum(float(r["reward"]) for r in rows)),
        "acting_steps": acting,
        "simulate_calls": calls,
        "recovery_steps": sum(int(r.get("recovery_steps") or 0) for r in rows),
        "recovery_calls": sum(int(r.get("recovery_calls") or 0) for r in rows),
        "calls_per_acting_step": (
            (calls - sum(int(r.get("recovery_calls") or 0) for r in rows)) / acting
            if acting
            else None
        ),
        "decision_s_per_acting_step": seconds / acting if acting and weighted else None,
        "reward_gap": float(sum(gaps)) if len(gaps) == len(rows) else None,
        "steps_gap": int(sum(steps_gaps)) if len(steps_gaps) == len(rows) else None,
        "game_overs": sum(bool(r["game_over"]) for r in rows),
    }


def _summary(
    request: AgentsRequest,
    setup: _Setup,
    specs: Sequence[AgentSpec],
    rows: Sequence[Mapping[str, Any]],
    oracle: Mapping[int, Mapping[str, Any]],
) -> dict[str, Any]:
    seeds = {}
    for chronic, name in zip(setup.chronics, setup.names, strict=True):
        env_seed, agent_seed = episode_seeds(request.seed, chronic)
        seeds[name] = {"chronic": chronic, "env_seed": env_seed, "agent_seed": agent_seed}
    return {
        "config": {
            "env": request.env,
            "chronics": setup.chronics,
            "chronic_names": setup.names,
            "model": str(request.model),
            "model_sha256": setup.model_sha,
            "n_actions": len(setup.catalogue),
            "k": list(request.k),
            "threshold": float(request.threshold),
            "recover": None if request.recover is None else float(request.recover),
            "max_steps": request.max_steps,
            "episode_steps": {
                setup.names[i]: setup.lengths[c] for i, c in enumerate(setup.chronics)
            },
            "seed": request.seed,
            "oracle": request.oracle,
            "oracle_bound": ORACLE_BOUND_RULE,
            "reward": REWARD,
        },
        "versions": setup.versions,
        "seeds": seeds,
        "agents": [s.to_dict() for s in specs],
        "totals": {s.name: _totals([r for r in rows if r["agent"] == s.name]) for s in specs},
        "oracle": {
            str(c): {k: v for k, v in o.items() if k not in ("key",)} for c, o in oracle.items()
        },
    }


def _warnings(oracle: Mapping[int, Mapping[str, Any]]) -> list[str]:
    out = []
    for chronic in sorted(oracle):
        o = oracle[chronic]
        if o.get("error"):
            out.append(f"oracle on chronic {chronic}: not run ({o['error']})")
            continue
        for label, p in (o.get("paths") or {}).items():
            if p.get("steps") is not None and p["steps"] < (p.get("steps_planned") or 0):
                out.append(
                    f"oracle on chronic {chronic}: its {label} replayed under the real rules "
                    f"survives {p['steps']} of {p['steps_planned']} steps"
                )
    return out


def _write_results(out: Path, rows: Sequence[Mapping[str, Any]], summary: dict[str, Any]) -> None:
    """results.csv, results.json and summary.json, each atomically."""
    import pandas as pd

    frame = pd.DataFrame(list(rows), columns=list(RESULT_COLUMNS))
    frame["k"] = frame["k"].astype("Int64")
    for col in ("oracle_steps", "steps_gap"):
        frame[col] = frame[col].astype("Int64")
    atomic_write_bytes(out / "results.csv", frame.to_csv(index=False).encode("utf-8"))
    atomic_write_json(out / "results.json", json_safe(list(rows)))
    atomic_write_json(out / "summary.json", json_safe(summary))


def _draw(
    out: Path,
    rows: Sequence[Mapping[str, Any]],
    specs: Sequence[AgentSpec],
    setup: _Setup,
    finished: Mapping[tuple[str, int], Mapping[str, Any]],
) -> list[Path]:
    """survival.png, max_rho.png and calls_vs_survival.png."""
    from gridoracle.plots import (
        plot_agent_calls_vs_survival,
        plot_agent_max_rho,
        plot_agent_survival,
    )

    agents = [s.name for s in specs]
    traces = {
        name: {s.name: finished[(s.name, c)]["max_rho"] for s in specs}
        for c, name in zip(setup.chronics, setup.names, strict=True)
    }
    written = [
        plot_agent_survival(rows, agents, out / "survival.png"),
        plot_agent_max_rho(traces, agents, out / "max_rho.png"),
        plot_agent_calls_vs_survival(rows, agents, out / "calls_vs_survival.png"),
    ]
    return written


def _write_html(
    out: Path,
    rows: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any],
    figures: Sequence[Path],
) -> Path:
    """report.html with the agents' section."""
    from gridoracle.report import AgentsSection, write_report

    config = summary["config"]
    section = AgentsSection(out, [dict(r) for r in rows], dict(summary), list(figures))
    return write_report(
        out / "report.html",
        title=f"gridoracle agents: {config['env']}",
        subtitle=f"model {config['model']}; chronic(s) {', '.join(config['chronic_names'])}",
        agents=section,
    )
