"""Superposition of unitary topology changes against power flows of the combined topology."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gridoracle.actions.combine import CombinedAction, combinations
from gridoracle.actions.oracle_input import load_oracle_actions
from gridoracle.engine.batched import BatchedEngine
from gridoracle.engine.unitary import FlowSolver
from gridoracle.oracle.core.margins import margin_reward
from gridoracle.oracle.sim import superposition as sup
from gridoracle.oracle.sim.env import make_oracle_env
from gridoracle.oracle.sim.episode import episode_states

ROOT = Path(__file__).resolve().parent.parent
ACTIONS = ROOT / "examples/actions/l2rpn_case14_sandbox/reference.json"
STEPS = 24


class _Case:
    def __init__(self) -> None:
        self.env = make_oracle_env("l2rpn_case14_sandbox", "oracle")
        self.engine = BatchedEngine(self.env)
        self.solver = FlowSolver(self.env)
        found = episode_states(self.env, 0, STEPS, 0, engine=self.engine)
        assert found.states is not None
        self.states = found.states
        self.unitary, _, _ = load_oracle_actions(ACTIONS, self.env)
        self.index = {u.name: i for i, u in enumerate(self.unitary)}
        self.bases = {
            dc: sup.unitary_basis(
                self.env, self.engine, self.states, self.unitary, dc=dc, solver=self.solver
            )
            for dc in (True, False)
        }

    def combos(self, depth: int) -> tuple[list[CombinedAction], np.ndarray]:
        found = [c for c in combinations(self.unitary, depth) if c.depth == depth]
        parts = np.array([[self.index[p.name] for p in c.parts] for c in found], dtype=np.int64)
        return found, parts

    def exact(self, combo: CombinedAction, step: int, dc: bool) -> Any:
        """The combined topology's own power flow at ``step`` (None when it islands)."""
        s = self.states
        topo = self.engine.resulting_topology(
            combo, s.topo_vect[step], s.prev_topo[step], s.line_status[step]
        )
        # held as the Oracle holds it: lines the environment cut (maintenance) stay out
        status = np.asarray(self.env.action_space(combo.grid2op).line_set_status)
        off = ~s.line_status[step] & (status != 1)
        topo[self.engine.line_or_pos[off]] = -1
        topo[self.engine.line_ex_pos[off]] = -1
        if self.engine.islanded(topo):
            return None
        return self.solver.solve(topo, s, np.array([step]), dc=dc)


@pytest.fixture(scope="module")
def case() -> Iterator[_Case]:
    made = _Case()
    yield made
    made.env.close()


def test_flow_solver_matches_batched_engine(case: _Case) -> None:
    """The flow solver's currents are the batched engine's (same power flows), to 1e-6 A."""
    actions = case.unitary[:3]
    result = case.engine.evaluate(case.states, actions, full=True, kept=True)
    assert result.rho is not None
    for j, action in enumerate(actions):
        s = case.states
        topo = case.engine.resulting_topology(
            action, s.topo_vect[0], s.prev_topo[0], s.line_status[0]
        )
        flows = case.solver.solve(topo, s)
        assert flows.converged.all()
        amps = result.rho[:, j].astype(np.float64) * case.engine.thermal_limit
        np.testing.assert_allclose(flows.a_or, amps, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_dc_superposition_is_exact(case: _Case, depth: int) -> None:
    """In DC the theorem is exact: flows within 1e-8 MW of the combined topology's DC flow."""
    basis = case.bases[True]
    combos, parts = case.combos(depth)
    checked = 0
    for step in (0, 7, STEPS - 1):
        p, _, ok = sup.superposed_flows(basis, parts, step)
        for m, combo in enumerate(combos):
            exact = case.exact(combo, step, dc=True)
            if exact is None:
                assert not ok[m], f"{combo.name} islands the grid but is superposed"
                continue
            if not ok[m]:
                clash = basis.conflicts[np.ix_(parts[m], parts[m])].any()
                assert clash, f"{combo.name} is not superposed at step {step}"
                continue
            assert exact.converged[0]
            err = float(np.abs(exact.p_or[0] - p[m]).max())
            assert err < 1e-8, f"{combo.name} at step {step}: {err} MW"
            checked += 1
    assert checked >= 3 * len(combos) // 4


def test_conflicting_parts_are_not_superposed(case: _Case) -> None:
    """A line disconnection with a substation action that sets that line's end is flagged."""
    combos, parts = case.combos(2)
    _, _, ok = sup.superposed_flows(case.bases[True], parts, 0)
    names = {c.name: bool(flag) for c, flag in zip(combos, ok, strict=True)}
    assert names["sub-1-0_line-4-5"] is False  # line 4 ends at substation 1
    assert names["sub-1-0_sub-4-2"] is True


def test_ac_superposition_error_is_bounded(case: _Case) -> None:
    """In AC superposition is an approximation: its error on the margin reward is stated here
    (measured on this case: at most 0.84 of a reward of about 19, median 0.03)."""
    basis = case.bases[False]
    limit = case.engine.thermal_limit
    combos, parts = case.combos(2)
    screened = sup.screen(basis, parts, limit)
    reward_err = []
    for step in (0, 11, STEPS - 1):
        for m, combo in enumerate(combos):
            if not screened.ok[step, m]:
                continue
            exact = case.exact(combo, step, dc=False)
            assert exact is not None and exact.converged[0]
            reward = float(margin_reward(exact.a_or[0], limit))
            reward_err.append(abs(reward - float(screened.rewards[step, m])))
    assert len(reward_err) > 30
    assert max(reward_err) < 1.0
    assert np.median(reward_err) < 0.05


def test_cli_superposition_gives_the_exact_best_path(tmp_path: Path) -> None:
    """``--combine superposition`` on a small case: the best paths and KPIs of ``exact``."""
    from typer.testing import CliRunner

    from gridoracle.cli import app

    outputs = {}
    for mode in ("exact", "superposition"):
        out = tmp_path / mode
        args = ["oracle", "--env", "l2rpn_case14_sandbox", "--chronic", "0"]
        args += ["--actions", str(ACTIONS), "--max-depth", "3", "--max-iter", "30"]
        args += ["--combine", mode, "--out", str(out), "--no-replay", "--quiet"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        folder = out / "l2rpn_case14_sandbox" / "scenario_0" / "reference"
        outputs[mode] = folder
    exact, superposed = outputs["exact"], outputs["superposition"]
    for name in ("best_path.json", "best_path_no_overload.json", "kpis.csv"):
        assert (exact / name).read_text() == (superposed / name).read_text(), name
    summary = json.loads((superposed / "summary.json").read_text())
    stats = summary["superposition"]
    assert stats["n_superposed"] > 0 and stats["n_exact"] < stats["n_combined"]
    assert summary["config"]["combine"] == "superposition"
    assert json.loads((exact / "summary.json").read_text())["superposition"] is None


def test_combine_rejects_an_unknown_mode() -> None:
    from gridoracle.errors import InvalidOption
    from gridoracle.oracle.config import OracleConfig

    with pytest.raises(InvalidOption, match="combine"):
        OracleConfig().merge({"combine": "approximate"})


def test_above_the_graph_limit_the_table_holds_the_exact_actions(case: _Case) -> None:
    """Above ``graph_limit`` the table returned holds only the exactly simulated actions, and
    the actions within the margin of each step's best are among them."""
    combos = combinations(case.unitary, 3)
    found = sup.superposed_reward_table(
        case.env, case.engine, combos, 0, 12, 0, graph_limit=0, margin=0.5
    )
    assert found.exact.all() and found.stats["graph"] == "the exactly simulated actions"
    assert 0 < len(found.actions) < len(combos) - len(found.filtered)
    names = {a.name for a in found.actions}
    assert {u.name for u in case.unitary} <= names | {n for n, _ in found.filtered}
    assert found.table.names == [a.name for a in found.actions]


def _direct_screen(basis: sup.UnitaryBasis, parts: np.ndarray, limit: np.ndarray) -> Any:
    """The screening written plainly, in float64, from :func:`superposed_flows`."""
    lim = np.abs(limit) + sup.MARGIN_A
    base = basis.base
    rewards = np.full((basis.n_steps, len(parts)), np.nan)
    overload = np.zeros((basis.n_steps, len(parts)), dtype=np.int8)
    oks = np.zeros((basis.n_steps, len(parts)), dtype=bool)
    for step in range(basis.n_steps):
        p, q, ok = sup.superposed_flows(basis, parts, step)
        s0 = np.hypot(base.p_or[step], base.q_or[step])
        amps_per_va = np.where(s0 > 1e-9, base.a_or[step] / np.maximum(s0, 1e-9), 0.0)
        rho2 = (np.hypot(p, q) * amps_per_va / lim) ** 2
        rewards[step] = np.where(ok, lim.size - np.minimum(rho2, 1.0).sum(axis=1), np.nan)
        overload[step] = np.where((rho2 > 1.0).any(axis=1), 0, 1)
        oks[step] = ok
    return rewards, overload, oks


@pytest.mark.parametrize("depth", [2, 3])
def test_screen_equals_the_direct_float64_computation(case: _Case, depth: int) -> None:
    """The batched screening (float32 flows, closed-form betas) gives the plain float64
    computation's flags and rewards within 1e-4 (of about 20), in AC and DC; with float64
    flows within the float32 rounding of the stored rewards; two threads the same bytes as
    one."""
    _, parts = case.combos(depth)
    limit = case.engine.thermal_limit
    for dc in (False, True):
        basis = case.bases[dc]
        rewards, overload, ok = _direct_screen(basis, parts, limit)
        assert ok.sum() > ok.size // 4
        for dtype, tol in ((np.float32, 1e-4), (np.float64, 4e-6)):  # stored as float32
            found = sup.screen(basis, parts, limit, dtype=dtype, chunk=7)
            np.testing.assert_array_equal(found.ok, ok)
            np.testing.assert_array_equal(found.overload[ok], overload[ok])
            np.testing.assert_allclose(found.rewards, rewards, rtol=0, atol=tol)
        one = sup.screen(basis, parts, limit, chunk=7)
        twice = sup.screen(basis, parts, limit, workers=2, chunk=7)
        for name in ("rewards", "overload", "ok"):
            assert getattr(twice, name).tobytes() == getattr(one, name).tobytes(), name


@pytest.mark.parametrize("depth", [2, 3])
def test_closed_form_betas_equal_lu_and_svd_flags(case: _Case, depth: int) -> None:
    """The closed-form betas (adjugate, Frobenius bound) equal LAPACK's solve to 1e-9, and
    flag the combinations an SVD of every system flags (condition number >= 1e6)."""
    _, parts = case.combos(depth)
    basis = case.bases[False]
    for step in (0, 11, STEPS - 1):
        beta, ok = sup._betas(basis, step, parts)
        virtual = basis.virtual(step)
        c0 = virtual[0][parts]
        a = c0[:, :, None] - virtual[1:][parts[:, None, :], parts[:, :, None]]
        changes = basis.changes[step][parts]
        inactive = ~changes
        a = np.where(inactive[:, :, None] | inactive[:, None, :], np.eye(depth)[None], a)
        rhs = np.where(inactive, 0.0, c0)
        cond = np.linalg.cond(a)
        good = np.isfinite(cond) & (cond < sup.MAX_CONDITION)
        usable = basis.usable[step][parts].all(axis=1)
        for i in range(depth):
            for j in range(i + 1, depth):
                usable &= ~basis.conflicts[parts[:, i], parts[:, j]]
        np.testing.assert_array_equal(ok, usable & good)
        solved = np.linalg.solve(a[good], rhs[good][:, :, None])[:, :, 0] * changes[good]
        np.testing.assert_allclose(beta[good], solved, rtol=1e-9, atol=1e-9)
        assert not beta[~good].any()


def test_candidates_are_capped_per_step(case: _Case) -> None:
    """``per_step`` keeps, at each step, the best superposed rewards only (the k-th best is
    the sorted one), so fewer candidates are simulated; the table is still every action's."""
    combos = combinations(case.unitary, 3)
    _, parts = case.combos(2)
    screened = sup.screen(case.bases[False], parts, case.engine.thermal_limit)
    kth = sup._kth_per_step([screened, screened], 1.0, 5)
    for step in range(STEPS):
        row = screened.rewards[step].astype(np.float64)
        row = np.sort(np.concatenate([row, row])[~np.isnan(np.concatenate([row, row]))])
        assert kth[step] == row[-5]
    found = {
        k: sup.superposed_reward_table(
            case.env, case.engine, combos, 0, 12, 0, graph_limit=0, margin=5.0, per_step=k
        )
        for k in (None, 1)
    }
    loose, capped = found[None].stats, found[1].stats
    assert capped["per_step"] == 1 and loose["per_step"] is None
    assert 0 < capped["n_candidates"] < loose["n_candidates"]
    assert capped["n_candidates"] <= 12 * 2  # one per step and depth group, ties aside


def test_combinations_with_an_islanding_part_are_dropped_unsimulated(case: _Case) -> None:
    """A part that isolates a load (dropped at t0 as diverging): the combinations holding it
    that the topology check drops are exactly ones the filter at t0 drops too."""
    from gridoracle.actions.combine import filter_at_t0
    from gridoracle.actions.parse import convert

    data = json.loads(ACTIONS.read_text())
    data["sub"]["3"] = [*data["sub"].get("3", []), {"loads_id_bus": [[2, 2]]}]  # load 2 alone
    unitary, _ = convert(data, case.env)
    combos = combinations(unitary, 3)
    shallow = [c for c in combos if c.depth == 1]
    _, dropped = filter_at_t0(shallow, case.env, 0, 0)
    reasons = dict(dropped)
    assert list(reasons) == ["sub-3-2"] and reasons["sub-3-2"].startswith("diverges at t0")
    flagged = [c for c in combos if c.depth > 1 and any(p.name in reasons for p in c.parts)]
    found = sup._islanded_with_a_part(flagged, shallow, reasons, case.engine, case.states)
    assert len(found) >= len(flagged) - 5 > 10
    _, really = filter_at_t0(flagged, case.env, 0, 0)
    assert set(found) <= {name for name, reason in really if reason.startswith("diverges at t0")}
    assert all(reason.startswith("diverges at t0: it islands") for reason in found.values())
