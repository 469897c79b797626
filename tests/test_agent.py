"""The agents of gridoracle.agent checked against grid2op on l2rpn_case14_sandbox.

Ground truth: an exhaustive ``obs.simulate`` over the whole catalogue, run here independently of
the agents, on real states of chronic 0; grid2op's own legality verdict (``is_illegal`` of a
simulation) for the cooldown filter; ``features_from_observations`` for the feature row.
"""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
from grid2op.Parameters import Parameters

from gridoracle.actions.catalogue import save_catalogue
from gridoracle.actions.model import CatalogueAction, GridLayout, line_action
from gridoracle.agent import (
    DONOTHING,
    FeatureRow,
    GreedyAgent,
    RandomKAgent,
    ScreeningAgent,
    load_catalogue,
)
from gridoracle.dataset import load
from gridoracle.dataset.features import feature_columns, features_from_observations
from gridoracle.errors import (
    ActionFileError,
    GridOracleError,
    InvalidOption,
    ModelError,
    ModelMismatch,
)
from gridoracle.grid import make_env
from gridoracle.models import load as load_model
from gridoracle.models import train
from gridoracle.models.persist import ACTIONS_FILE, METADATA_FILE, read_actions
from gridoracle.pipelines.generate import GenerateRequest, generate

CASE14 = "l2rpn_case14_sandbox"
STATES = (0, 4, 9)  # steps of chronic 0 (do nothing) the decisions are checked on


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """case14, chronics 0-1, 20 states each, 20 actions sampled (donothing first), full rho."""
    out = tmp_path_factory.mktemp("agent-data")
    report = generate(
        GenerateRequest(CASE14, chronics="0,1", max_steps=20, n_actions=20, targets="full", out=out)
    )
    return load(report.path)


@pytest.fixture(scope="module")
def model_dir(dataset, tmp_path_factory):
    """The default model (line_flows) trained on chronic 0 and saved by train."""
    folder = tmp_path_factory.mktemp("agent-models") / "line_flows"
    train(dataset, "line_flows", out=folder, test_chronics=[1])
    return folder


@pytest.fixture(scope="module")
def predictor(model_dir):
    return load_model(model_dir)


@pytest.fixture(scope="module")
def catalogue(model_dir, env_case14):
    return load_catalogue(model_dir, env_case14.action_space)


@pytest.fixture(scope="module")
def states(env_case14):
    """Observations of chronic 0 at the steps of STATES (do nothing played)."""
    env = env_case14
    env.set_id(0)
    obs = env.reset()
    out = []
    for step in range(max(STATES) + 1):
        if step in STATES:
            out.append(obs)
        obs, *_ = env.step(env.action_space({}))
    return out


@pytest.fixture(scope="module")
def env_cooldown():
    """case14 with cooldowns of 3 steps on lines and substations (the sandbox has none)."""
    param = Parameters()
    param.NB_TIMESTEP_COOLDOWN_LINE = 3
    param.NB_TIMESTEP_COOLDOWN_SUB = 3
    env = make_env(CASE14, param=param, seed=0)
    yield env
    env.close()


def _value(obs, action) -> float:
    """Simulated max rho as the agents define it (inf when the simulation does not count)."""
    sim, _r, done, info = obs.simulate(action)
    if done or info["exception"] or info["is_illegal"] or info["is_ambiguous"]:
        return math.inf
    return float(sim.rho.max())


def _exhaustive(obs, space, actions):
    """Do nothing's simulated max rho and every catalogue action's, by name."""
    return _value(obs, space({})), {
        a.name: _value(obs, space(a.grid2op_dict())) for a in actions if a.grid2op
    }


def _best(donothing, values, names):
    """What the policy plays among ``names`` (catalogue order): the argmin if strictly better."""
    best, best_value = DONOTHING, donothing
    for name in names:
        if values[name] < best_value:
            best, best_value = name, values[name]
    return best, best_value


def _decide(agent, obs):
    agent.act(obs, 0.0)
    return agent.records[-1]


# ------------------------------------------------------------------------------ decisions


def test_greedy_plays_the_best_of_an_exhaustive_simulation(env_case14, catalogue, states):
    agent = GreedyAgent(env_case14.action_space, catalogue, threshold=0.0)
    candidates = [a.name for a in catalogue if a.grid2op]
    played = set()
    for obs in states:
        donothing, values = _exhaustive(obs, env_case14.action_space, catalogue)
        record = _decide(agent, obs)
        best, best_value = _best(donothing, values, candidates)
        assert record["action"] == best
        assert record["simulated_rho"] == pytest.approx(best_value, abs=1e-9)
        assert record["donothing_rho"] == pytest.approx(donothing, abs=1e-9)
        assert record["calls"] == len(candidates) + 1  # no cooldown, no line out
        assert agent.last_candidates == candidates
        played.add(record["action"])
    assert played - {DONOTHING}, "the test states should make greedy act"
    assert agent.simulate_calls == len(states) * (len(candidates) + 1)
    assert agent.acting_steps == len(states)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_screening_plays_the_best_of_its_top_k_predicted(
    env_case14, predictor, catalogue, states, k
):
    agent = ScreeningAgent(env_case14.action_space, predictor, k=k, threshold=0.0)
    assert [a.name for a in agent.actions] == predictor.action_names
    for obs in states:
        donothing, values = _exhaustive(obs, env_case14.action_space, catalogue)
        X = features_from_observations([obs])
        predicted = predictor.predict(X).iloc[0]
        legal = [a.name for a in catalogue if a.grid2op]
        top = sorted(legal, key=lambda n: (predicted[n], legal.index(n)))[:k]
        top = [n for n in legal if n in top]  # catalogue order
        record = _decide(agent, obs)
        assert agent.last_candidates == top
        assert record["calls"] == k + 1
        best, best_value = _best(donothing, values, top)
        assert record["action"] == best
        assert record["simulated_rho"] == pytest.approx(best_value, abs=1e-9)
        assert record["predicted"] == pytest.approx(predicted[best], rel=1e-9)  # donothing too


def test_screening_with_every_action_chooses_what_greedy_chooses(
    env_case14, model_dir, catalogue, states
):
    n = sum(1 for a in catalogue if a.grid2op)
    screening = ScreeningAgent(env_case14.action_space, model_dir, k=n, threshold=0.0)
    greedy = GreedyAgent(env_case14.action_space, model_dir, threshold=0.0)
    for obs in states:
        s, g = _decide(screening, obs), _decide(greedy, obs)
        assert (s["action"], s["simulated_rho"], s["calls"]) == (
            g["action"],
            g["simulated_rho"],
            g["calls"],
        )


def test_random_k_is_reproducible_with_its_seed(env_case14, catalogue, states):
    def draws(seed, reseed=None):
        agent = RandomKAgent(env_case14.action_space, catalogue, k=4, threshold=0.0, seed=seed)
        if reseed is not None:
            agent.seed(reseed)
        out = []
        for obs in states:
            record = _decide(agent, obs)
            assert record["calls"] == 5
            out.append(tuple(agent.last_candidates))
        return out

    first = draws(3)
    assert draws(3) == first
    assert draws(0, reseed=3) == first  # seed() (grid2op's Runner calls it) reseeds the draws
    assert draws(4) != first
    assert all(len(set(d)) == 4 for d in first)


def test_random_k_plays_the_best_of_what_it_simulated(env_case14, catalogue, states):
    agent = RandomKAgent(env_case14.action_space, catalogue, k=6, threshold=0.0, seed=1)
    for obs in states:
        donothing, values = _exhaustive(obs, env_case14.action_space, catalogue)
        record = _decide(agent, obs)
        assert record["action"] == _best(donothing, values, agent.last_candidates)[0]


def test_below_the_threshold_no_call_and_do_nothing(env_case14, model_dir, states):
    for agent in (
        GreedyAgent(env_case14.action_space, model_dir, threshold=10.0),
        ScreeningAgent(env_case14.action_space, model_dir, k=3, threshold=10.0),
        RandomKAgent(env_case14.action_space, model_dir, k=3, threshold=10.0),
    ):
        for obs in states:
            action = agent.act(obs, 0.0)
            assert action == env_case14.action_space({})
        assert (agent.simulate_calls, agent.acting_steps, agent.records) == (0, 0, [])
        assert agent.steps == len(states)
        summary = agent.summary()
        assert summary["simulate_calls"] == 0 and summary["calls_per_acting_step"] is None


# ------------------------------------------------------------------------------ reconnection


def _line_out(env, line):
    """Chronic 0 reset, ``line`` disconnected by the first step; the observation after it."""
    env.set_id(0)
    env.reset()
    obs, _r, done, _info = env.step(env.action_space({"set_line_status": [(line, -1)]}))
    assert not done and not obs.line_status[line]
    return obs


def test_a_line_out_is_reconnected_once_its_cooldown_allows_it(env_cooldown, model_dir):
    env, line = env_cooldown, 3
    agent = ScreeningAgent(env.action_space, model_dir, k=3, threshold=10.0)
    obs = _line_out(env, line)
    reconnect = env.action_space({"set_line_status": [(line, 1)]})
    waited = 0
    while obs.time_before_cooldown_line[line] > 0:
        assert agent.act(obs, 0.0) == env.action_space({})  # not yet: grid2op would refuse it
        obs, *_ = env.step(env.action_space({}))
        waited += 1
    assert waited == 3
    assert agent.act(obs, 0.0) == reconnect
    obs, _r, _done, info = env.step(reconnect)
    assert not info["is_illegal"] and obs.line_status[line]
    assert agent.simulate_calls == 0


def test_above_the_threshold_the_reconnection_is_simulated_too(env_case14, model_dir):
    env, line = env_case14, 3
    obs = _line_out(env, line)
    assert obs.time_before_cooldown_line[line] == 0  # the sandbox has no cooldown
    space = env.action_space
    catalogue = load_catalogue(model_dir, space)
    donothing, values = _exhaustive(obs, space, catalogue)
    reconnect = _value(obs, space({"set_line_status": [(line, 1)]}))
    for agent, extra in (
        (ScreeningAgent(space, model_dir, k=4, threshold=0.0), 4),
        (GreedyAgent(space, model_dir, threshold=0.0), sum(1 for a in catalogue if a.grid2op)),
    ):
        record = _decide(agent, obs)
        assert record["calls"] == extra + 2  # do nothing, the reconnection, the candidates
        default, value = DONOTHING, donothing
        if reconnect <= donothing:
            default, value = f"reconnect-line-{line}", reconnect
        best, best_value = default, value
        for name in agent.last_candidates:
            if values[name] < best_value:
                best, best_value = name, values[name]
        assert record["action"] == best


# ------------------------------------------------------------------------------ legality


def test_actions_in_cooldown_are_never_simulated(env_cooldown, model_dir):
    env = env_cooldown
    space = env.action_space
    catalogue = load_catalogue(model_dir, space)
    topology = next(a for a in catalogue if a.grid2op.get("set_bus"))
    (sub,), _ = topology.touched(space)
    env.set_id(0)
    env.reset()
    obs, _r, done, info = env.step(space(topology.grid2op_dict()))
    assert not done and not info["is_illegal"] and obs.time_before_cooldown_sub[sub] > 0
    # grid2op's verdict on every catalogue action in this state
    illegal = {
        a.name
        for a in catalogue
        if a.grid2op and obs.simulate(space(a.grid2op_dict()))[3]["is_illegal"]
    }
    assert illegal == {a.name for a in catalogue if a.grid2op and sub in a.touched(space)[0]}
    assert illegal
    simulated = []
    real = obs.simulate

    def spy(action, *args, **kwargs):
        simulated.append(action)
        return real(action, *args, **kwargs)

    obs.simulate = spy
    candidates = [a.name for a in catalogue if a.grid2op]
    agent = GreedyAgent(space, catalogue, threshold=0.0)
    record = _decide(agent, obs)
    assert record["legal"] == len(candidates) - len(illegal)
    assert record["calls"] == len(simulated) == len(candidates) - len(illegal) + 1
    assert not set(agent.last_candidates) & illegal
    for action in simulated:
        _lines, subs = action.get_topological_impact(obs.line_status, _read_from_cache=False)
        assert not subs[sub]
    screening = ScreeningAgent(space, model_dir, k=len(candidates), threshold=0.0)
    _decide(screening, obs)
    assert screening.last_candidates == agent.last_candidates


def test_legal_candidates_with_a_line_in_cooldown_are_grid2ops(env_cooldown, catalogue):
    env, line = env_cooldown, 3
    space = env.action_space
    obs = _line_out(env, line)
    assert obs.time_before_cooldown_line[line] > 0
    # line actions on the line out and on another, and a bus set on the line's origin (which
    # reconnects it: grid2op counts it as a line status change)
    actions = [
        *catalogue,
        line_action(line, True),
        line_action(line, False),
        line_action(5, True),
        line_action(5, False),
        ("origin-of-3-on-bus-1", {"set_bus": {"lines_or_id": [[line, 1]]}}),
    ]
    agent = GreedyAgent(space, actions, threshold=0.0)
    illegal = {
        a.name
        for a in agent.actions
        if a.grid2op and obs.simulate(space(a.grid2op_dict()))[3]["is_illegal"]
    }
    assert {f"line-{line}-on", f"line-{line}-off", "origin-of-3-on-bus-1"} <= illegal
    legal = {agent.action_names[i] for i in agent.legal_candidates(obs)}
    assert legal == {a.name for a in agent.actions if a.grid2op} - illegal
    record = _decide(agent, obs)
    assert record["calls"] == len(legal) + 1  # the line out is in cooldown: no reconnection
    assert set(agent.last_candidates) == legal


def test_impacts_updated_for_lines_out_equal_grid2ops_from_scratch(env_case14, catalogue):
    # the impacts are computed once with every line in, then again only for the actions that
    # touch a line that is out: the same pairs as grid2op's get_topological_impact on all of them
    space = env_case14.action_space
    extra = [line_action(i, on) for i in (0, 3, 7) for on in (True, False)]
    extra.append(
        CatalogueAction(
            name="origin-of-3-on-bus-2",
            kind="topology",
            grid2op={"set_bus": {"lines_or_id": [[3, 2]]}},
        )
    )
    agent = GreedyAgent(space, [*catalogue, *extra], threshold=0.0)
    rng = np.random.default_rng(0)
    for out in ([], [3], [0, 7], list(rng.choice(20, size=4, replace=False))):
        status = np.ones(20, dtype=bool)
        status[out] = False
        fast = agent._impact_for(status)
        full = agent._impact_pairs(agent._candidates, status)
        for a, b in ((0, 1), (2, 3)):
            assert set(zip(fast[a], fast[b], strict=True)) == set(
                zip(full[a], full[b], strict=True)
            )
    # the bus set on line 3's origin moves an element while the line is in, and reconnects the
    # line (a status change, no substation) while it is out
    index = agent.action_names.index("origin-of-3-on-bus-2")
    pos = int(np.flatnonzero(agent._candidates == index)[0])
    sub = int(space.line_or_to_subid[3])

    def pairs(status):
        owner, line, sub_owner, sub_id = agent._impact_for(status)
        return set(line[owner == pos].tolist()), set(sub_id[sub_owner == pos].tolist())

    status = np.ones(20, dtype=bool)
    assert pairs(status) == (set(), {sub})
    status[3] = False
    assert pairs(status) == ({3}, set())


# ------------------------------------------------------------------------------ features


def test_feature_row_equals_the_dataset_features(env_case14, predictor, states):
    row = FeatureRow(predictor.feature_names, env_case14.action_space, horizon=0)
    for obs in states:
        expected = features_from_observations([obs])[predictor.feature_names].to_numpy(float)
        np.testing.assert_array_equal(row(obs), expected)
    # horizon 1 (the forecasts), in a shuffled order
    columns = feature_columns(type(states[0]), 1)
    order = [columns[i] for i in np.random.default_rng(0).permutation(len(columns))]
    row1 = FeatureRow(order, env_case14.action_space, horizon=1)
    for obs in states:
        expected = features_from_observations([obs], horizon=1)[order].to_numpy(float)
        np.testing.assert_array_equal(row1(obs), expected)
    assert any(c.startswith("fc_") for c in order)


def test_predictions_per_step_equal_the_predictor(env_case14, predictor, states):
    agent = ScreeningAgent(env_case14.action_space, predictor, k=2, threshold=0.0)
    for obs in states:
        expected = predictor.predict(features_from_observations([obs])).to_numpy()[0]
        np.testing.assert_allclose(agent.predict(obs), expected, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------ pickling


def test_agents_pickle_and_decide_the_same(env_case14, model_dir, catalogue, states):
    space = env_case14.action_space
    for agent in (
        ScreeningAgent(space, model_dir, k=3, threshold=0.0),
        GreedyAgent(space, catalogue, threshold=0.0),
        RandomKAgent(space, catalogue, k=3, threshold=0.0, seed=2),
    ):
        copy = pickle.loads(pickle.dumps(agent))
        for obs in states:
            a, b = _decide(agent, obs), _decide(copy, obs)
            assert {k: v for k, v in a.items() if k != "seconds"} == {
                k: v for k, v in b.items() if k != "seconds"
            }
        agent.reset(states[0])
        assert (agent.simulate_calls, agent.acting_steps, agent.records) == (0, 0, [])
        assert agent.total_acting_steps == len(states)


# ------------------------------------------------------------------------------ catalogues


def test_train_stores_the_catalogue_in_the_model_folder(model_dir, dataset):
    metadata = json.loads((model_dir / METADATA_FILE).read_text())
    assert ACTIONS_FILE in metadata["files"]
    stored = read_actions(model_dir)
    assert [e["name"] for e in stored] == metadata["actions"]
    by_name = {a["name"]: a for a in dataset.actions}
    assert stored == [by_name[n] for n in metadata["actions"]]
    assert [(a.name, a.grid2op) for a in load_catalogue(model_dir)] == [
        (e["name"], e["grid2op"]) for e in stored
    ]


def _copy_model(model_dir, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    for f in model_dir.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    return folder


def _one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message
    return message


def test_a_model_without_actions_json_reads_its_dataset_manifest(model_dir, tmp_path, env_case14):
    folder = _copy_model(model_dir, tmp_path)
    metadata = json.loads((folder / METADATA_FILE).read_text())
    del metadata["files"][ACTIONS_FILE]
    (folder / METADATA_FILE).write_text(json.dumps(metadata))
    (folder / ACTIONS_FILE).unlink()
    assert read_actions(folder) is None
    names = [a.name for a in load_catalogue(folder, env_case14.action_space)]
    assert names == metadata["actions"]
    metadata["dataset"]["path"] = str(tmp_path / "gone")
    (folder / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ModelError) as err:
        load_catalogue(folder)
    assert str(folder) in _one_line(err) and "actions.json" in str(err.value)


def test_a_corrupted_catalogue_is_refused(model_dir, tmp_path, env_case14):
    folder = _copy_model(model_dir, tmp_path)
    path = folder / ACTIONS_FILE
    path.write_text(path.read_text().replace("sub-", "sub_", 1))
    with pytest.raises(ModelError) as err:
        ScreeningAgent(env_case14.action_space, folder)
    assert "corrupted" in _one_line(err) and str(path) in str(err.value)


def test_actions_given_must_be_the_models(model_dir, env_case14, catalogue, tmp_path):
    space = env_case14.action_space
    shuffled = [(a.name, a.grid2op) for a in reversed(catalogue)]
    agent = ScreeningAgent(space, model_dir, actions=shuffled)
    assert agent.action_names == [a.name for a in catalogue]  # the model's order
    path = save_catalogue(
        tmp_path / "actions.json", list(catalogue[:-1]), env_name=CASE14, grid=space
    )
    with pytest.raises(ModelMismatch) as err:
        ScreeningAgent(space, model_dir, actions=path)
    assert catalogue[-1].name in _one_line(err)
    greedy = GreedyAgent(space, path)
    assert greedy.action_names == [a.name for a in catalogue[:-1]]


def test_a_model_of_another_grid_is_refused(model_dir, env_rte14):
    with pytest.raises(ModelMismatch) as err:
        ScreeningAgent(env_rte14.action_space, model_dir)
    assert "another grid" in _one_line(err) and err.value.param == "model"


@pytest.mark.parametrize(
    ("make", "param"),
    [
        (lambda s, m: ScreeningAgent(s, m, k=0), "k"),
        (lambda s, m: RandomKAgent(s, m, k=2.5), "k"),
        (lambda s, m: GreedyAgent(s, m, threshold=-1), "threshold"),
        (lambda s, m: GreedyAgent(s, m, threshold=float("nan")), "threshold"),
        (lambda s, m: RandomKAgent(s, m, seed=-1), "seed"),
        (lambda s, m: GreedyAgent(s, m.parent / "missing.json"), "actions"),
        (lambda s, m: GreedyAgent(s, [("a", {"set_line_status": [(99, -1)]})]), "actions"),
        (lambda s, m: GreedyAgent(s, [42]), "actions"),
        (lambda s, m: GreedyAgent(s, []), "actions"),
        (
            lambda s, m: GreedyAgent(s, [("a", {}), ("a", {"set_line_status": [[1, -1]]})]),
            "actions",
        ),
        (
            lambda s, m: GreedyAgent(s, [("c", {"set_line_status": [[1, -1]], "redispatch": 3})]),
            "actions",
        ),
        (lambda s, m: GreedyAgent(s, {"a": {}}), "actions"),
        (lambda s, m: ScreeningAgent(s, m.parent / "no-model"), None),
    ],
)
def test_bad_input_is_one_line(env_case14, model_dir, make, param):
    with pytest.raises(GridOracleError) as err:
        make(env_case14.action_space, model_dir)
    _one_line(err)
    if param is not None:
        assert err.value.param == param
    assert isinstance(err.value, InvalidOption | ActionFileError | ModelError)


def test_actions_in_every_form(env_case14, catalogue, model_dir, tmp_path):
    space = env_case14.action_space
    path = save_catalogue(tmp_path / "a.json", list(catalogue), env_name=CASE14, grid=space)
    forms = [
        path,
        str(path),
        model_dir,
        model_dir / ACTIONS_FILE,
        model_dir / METADATA_FILE,
        load_model(model_dir),
        [(a.name, a.grid2op) for a in catalogue],
        [{"name": a.name, "grid2op": a.grid2op} for a in catalogue],
        list(catalogue),
    ]
    for form in forms:
        agent = GreedyAgent(space, form)
        assert [(a.name, a.grid2op) for a in agent.actions] == [
            (a.name, a.grid2op) for a in catalogue
        ]
    # a combination (topology and line status) is not a catalogue kind, and still plays
    sub = next(a for a in catalogue if a.grid2op.get("set_bus"))
    combined = {**sub.grid2op, "set_line_status": [[3, -1]]}
    agent = GreedyAgent(space, [("combined", combined)])
    assert agent.actions[0].grid2op == combined
    assert not isinstance(agent.actions[0], CatalogueAction)
    assert GridLayout.of(space).n_line == 20


# ------------------------------------------------------------------------------ ties, default


def _fixed_simulate(obs, values):
    """``obs.simulate`` answering the max rho of ``values`` ((grid2op action, value) pairs)."""
    from types import SimpleNamespace

    def simulate(action, *args, **kwargs):
        value = next(v for a, v in values if a == action)
        info = {"exception": [], "is_illegal": False, "is_ambiguous": False}
        if value is None:  # a game over
            return SimpleNamespace(rho=np.array([np.nan])), 0.0, True, info
        return SimpleNamespace(rho=np.array([value])), 0.0, False, info

    obs.simulate = simulate
    return obs


@pytest.mark.parametrize(
    ("donothing", "reconnect", "first", "second", "played"),
    [
        (0.9, None, 0.8, 0.8, "first"),  # a tie: catalogue order
        (0.9, None, 0.95, 0.7, "second"),
        (0.9, None, 0.9, 0.9, DONOTHING),  # not strictly better than do nothing
        (None, None, 0.99, None, "first"),  # do nothing is a game over: anything that counts
        (0.9, 0.9, 0.9, 0.95, "reconnect-line-3"),  # the reconnection is not worse: the default
        (0.9, 0.91, 0.95, 0.95, DONOTHING),  # the reconnection is worse than do nothing
        (0.9, 0.85, 0.85, 0.8, "second"),
    ],
)
def test_the_rule_of_choice(env_case14, donothing, reconnect, first, second, played):
    space = env_case14.action_space
    obs = _line_out(env_case14, 3)
    actions = [
        ("first", {"set_line_status": [[5, -1]]}),
        ("second", {"set_line_status": [[6, -1]]}),
    ]
    values = [
        (space({}), donothing),
        (space({"set_line_status": [(3, 1)]}), reconnect),
        (space(actions[0][1]), first),
        (space(actions[1][1]), second),
    ]
    agent = GreedyAgent(space, actions, threshold=0.0)
    record = _decide(agent, _fixed_simulate(obs, values))
    assert record["action"] == played
    assert record["calls"] == 4
    assert record["donothing_rho"] == donothing
    json.dumps(agent.records, allow_nan=False)


def test_a_model_of_another_environment_name_is_played_with_a_warning(
    env_case14, predictor, caplog
):
    from gridoracle.agent.agents import _same_environment
    from gridoracle.models import Predictor

    space = env_case14.action_space
    assert _same_environment(CASE14, space)
    assert _same_environment(f"/some/folder/{CASE14}", space)
    assert not _same_environment("l2rpn_case14", space)
    assert not _same_environment(f"{CASE14}_diff_grid", space)
    metadata = json.loads(json.dumps(predictor.metadata))
    with caplog.at_level("WARNING", logger="gridoracle.agent.agents"):
        ScreeningAgent(space, predictor, k=2)
    assert not caplog.records
    metadata["dataset"]["env"] = f"{CASE14}_diff_grid"
    other = Predictor(predictor.estimator, metadata, path=predictor.path)
    with caplog.at_level("WARNING", logger="gridoracle.agent.agents"):
        ScreeningAgent(space, other, k=2)
    assert f"trained on {CASE14}_diff_grid" in caplog.text


@pytest.mark.slow  # three Runner episodes: about 3 s of CPU, 10 s on a busy machine
def test_the_runner_seeds_random_k_through_agent_seeds(env_case14, catalogue):
    from grid2op.Runner import Runner

    runner = None

    def play(seed):
        nonlocal runner
        agent = RandomKAgent(env_case14.action_space, catalogue, k=3, threshold=0.0, seed=99)
        if runner is None:  # made once (about a second)
            params = env_case14.get_params_for_runner()
            runner = Runner(**params, agentClass=None, agentInstance=agent)
        runner.agent = runner.agentInstance = agent
        runner.run(nb_episode=1, nb_process=1, max_iter=8, env_seeds=[0], agent_seeds=[seed])
        return [(r["step"], r["action"]) for r in runner.agent.records]  # the copy it played

    first = play(1)
    assert len(first) == 8
    assert play(1) == first
    assert play(2) != first


def test_k_smallest_is_a_stable_argsorts_first_k():
    from gridoracle.agent.agents import _k_smallest

    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 30))
        values = rng.integers(0, 5, size=n).astype(float)  # many ties
        values[rng.random(n) < 0.2] = np.nan
        k = int(rng.integers(1, n + 3))
        expected = np.argsort(np.nan_to_num(values, nan=np.inf), kind="stable")[:k]
        np.testing.assert_array_equal(_k_smallest(values, k), np.sort(expected))


def test_a_model_saved_again_without_its_catalogue_drops_the_old_one(model_dir, tmp_path):
    from gridoracle.models import save

    folder = _copy_model(model_dir, tmp_path)
    model = load_model(folder)
    assert read_actions(folder) is not None
    save(model, folder)
    assert not (folder / ACTIONS_FILE).exists() and read_actions(folder) is None
    entries = read_actions(model_dir)
    save(model, folder, actions=list(reversed(entries)))  # written in the model's order
    assert read_actions(folder) == entries


def test_a_horizon_1_model_is_fed_the_forecasts(env_case14, states, tmp_path_factory):
    out = tmp_path_factory.mktemp("agent-data-h1")
    report = generate(
        GenerateRequest(
            CASE14, chronics="0,1", max_steps=20, n_actions=6, horizon=1, targets="full", out=out
        )
    )
    folder = out / "model"
    train(report.path, "line_flows", out=folder, test_chronics=[1])
    predictor = load_model(folder)
    assert any(f.startswith("fc_") for f in predictor.feature_names)
    agent = ScreeningAgent(env_case14.action_space, folder, k=2, threshold=0.0)
    assert agent.horizon == 1
    for obs in states:
        X = features_from_observations([obs], horizon=1)
        np.testing.assert_array_equal(agent.feature_row(obs), X[predictor.feature_names].to_numpy())
        np.testing.assert_allclose(
            agent.predict(obs), predictor.predict(X).to_numpy()[0], atol=1e-12
        )


# ------------------------------------------------------------------------------ recovery

SPLIT_SUBS = (1, 4)  # substations of the sandbox that take two elements on bus 2 safely
RECOVER, THRESHOLD = 0.9, 0.95


def _split(space, sub):
    """Substation ``sub``'s first two elements on bus 2, the others on bus 1."""
    vector = [1] * int(space.sub_info[sub])
    vector[0] = vector[1] = 2
    return space({"set_bus": {"substations_id": [(sub, vector)]}})


def _back(space, reference, obs, sub):
    """The return of ``sub`` to ``reference`` built independently of the agent: its connected
    elements set to their reference bus, the others left alone (0)."""
    first = int(np.sum(space.sub_info[:sub]))
    ref = reference[first : first + int(space.sub_info[sub])]
    now = np.asarray(obs.topo_vect)[first : first + int(space.sub_info[sub])]
    vector = [int(r) if n > 0 else 0 for r, n in zip(ref, now, strict=True)]
    return space({"set_bus": {"substations_id": [(sub, vector)]}})


def _split_state(env, subs=SPLIT_SUBS, waits=0):
    """Chronic 0 reset (its observation: the reference), then each of ``subs`` split by its own
    env.step, ``waits`` do-nothing steps after the first; the last observation."""
    env.set_id(0)
    first = env.reset()
    obs = first
    for i, sub in enumerate(subs):
        obs, _r, done, info = env.step(_split(env.action_space, sub))
        assert not done and not info["is_illegal"], (sub, info)
        for _ in range(waits if i == 0 else 0):
            obs, *_ = env.step(env.action_space({}))
    return first, obs


def _agents(space, model_dir, **kwargs):
    return (
        GreedyAgent(space, model_dir, threshold=THRESHOLD, **kwargs),
        RandomKAgent(space, model_dir, k=3, threshold=THRESHOLD, **kwargs),
        ScreeningAgent(space, model_dir, k=3, threshold=THRESHOLD, **kwargs),
    )


def test_recovery_plays_the_best_return_of_an_exhaustive_simulation(env_case14, model_dir):
    env, space = env_case14, env_case14.action_space
    first, obs = _split_state(env)
    reference = np.asarray(first.topo_vect)
    assert float(obs.rho.max()) < RECOVER
    # ground truth: every substation away from the reference, returned and simulated
    differ = sorted({int(s) for s in np.flatnonzero(np.asarray(obs.topo_vect) != reference)})
    differ_subs = sorted({int(np.searchsorted(np.cumsum(space.sub_info), p, "right"))
                          for p in differ})  # fmt: skip
    assert differ_subs == list(SPLIT_SUBS)
    values = {s: _value(obs, _back(space, reference, obs, s)) for s in differ_subs}
    best = min(differ_subs, key=lambda s: (values[s], s))
    assert values[best] < THRESHOLD  # this state's best return is played
    for agent in _agents(space, model_dir, recover=RECOVER):
        agent.reset(first)
        action = agent.act(obs, 0.0)
        assert action == _back(space, reference, obs, best), agent.kind
        record = agent.records[-1]
        assert record["kind"] == "recover" and record["action"] == f"recover-sub-{best}"
        assert record["substations"] == differ_subs
        np.testing.assert_allclose(record["values"], [values[s] for s in differ_subs], atol=1e-9)
        calls = len(differ_subs)
        assert (agent.simulate_calls, agent.recovery_calls, agent.recovery_steps) == (
            calls,
        ) * 2 + (1,)
        assert agent.acting_steps == 0
        summary = agent.summary()
        assert summary["recovery_calls"] == calls and summary["recovery_steps"] == 1
        assert summary["recover"] == RECOVER and summary["calls_per_acting_step"] is None
        assert summary["decision_seconds_mean"] is None  # a recovery is not an acting step
        json.dumps(agent.records, allow_nan=False)
        # after reset the counters restart, the reference is the new first observation
        agent.reset(obs)
        assert agent.recovery_calls == agent.recovery_steps == agent.simulate_calls == 0
        assert agent.act(obs, 0.0) == space({}) and agent.simulate_calls == 0
    for agent in _agents(space, model_dir):  # recover None: today's behaviour
        agent.reset(first)
        assert agent.act(obs, 0.0) == space({})
        assert (agent.simulate_calls, agent.records) == (0, [])


def test_no_recovery_at_or_above_recover_nor_without_reset_reference(env_case14, model_dir):
    env, space = env_case14, env_case14.action_space
    first, obs = _split_state(env)
    rho = float(obs.rho.max())
    agent = GreedyAgent(space, model_dir, threshold=THRESHOLD, recover=rho)  # not below r
    agent.reset(first)
    assert agent.act(obs, 0.0) == space({}) and agent.simulate_calls == 0
    # without reset, the reference is the first observation seen: this one, nothing differs
    agent = GreedyAgent(space, model_dir, threshold=THRESHOLD, recover=RECOVER)
    assert agent.act(obs, 0.0) == space({}) and agent.simulate_calls == 0
    np.testing.assert_array_equal(agent.reference, obs.topo_vect)


def test_the_reconnection_keeps_priority_over_recovery(env_case14, model_dir):
    env, space = env_case14, env_case14.action_space
    first, obs = _split_state(env)
    line = 17  # out, this state's max rho stays below RECOVER
    obs, _r, done, _info = env.step(space({"set_line_status": [(line, -1)]}))
    assert not done and float(obs.rho.max()) < RECOVER and obs.time_before_cooldown_line[line] == 0
    for agent in _agents(space, model_dir, recover=RECOVER):
        agent.reset(first)
        assert agent.act(obs, 0.0) == space({"set_line_status": [(line, 1)]})
        assert agent.simulate_calls == agent.recovery_calls == 0 and agent.records == []


@pytest.mark.parametrize(
    ("values", "played"),
    [
        ({1: 0.5, 4: 0.5}, 1),  # a tie: the lowest substation id
        ({1: 0.6, 4: 0.5}, 4),
        ({1: 0.97, 4: 0.96}, None),  # at or above the threshold: do nothing
        ({1: THRESHOLD, 4: None}, None),  # exactly the threshold; a game over never counts
        ({1: None, 4: 0.94}, 4),
    ],
)
def test_the_rule_of_recovery(env_case14, model_dir, values, played):
    env, space = env_case14, env_case14.action_space
    first, obs = _split_state(env)
    reference = np.asarray(first.topo_vect)
    fixed = [(space({}), 0.5)] + [(_back(space, reference, obs, s), v) for s, v in values.items()]
    agent = GreedyAgent(space, model_dir, threshold=THRESHOLD, recover=RECOVER)
    agent.reset(first)
    action = agent.act(_fixed_simulate(obs, fixed), 0.0)
    record = agent.records[-1]
    assert record["calls"] == agent.recovery_calls == agent.simulate_calls == 2
    if played is None:
        assert action == space({}) and record["action"] == DONOTHING
        assert agent.recovery_steps == 0
    else:
        assert action == _back(space, reference, obs, played)
        assert record["action"] == f"recover-sub-{played}" and agent.recovery_steps == 1


def test_recovery_simulates_only_substations_out_of_cooldown(env_cooldown, model_dir):
    env, space = env_cooldown, env_cooldown.action_space
    first, obs = _split_state(env, waits=3)  # sub 1 split, 3 steps, sub 4 split
    ready = np.asarray(obs.time_before_cooldown_sub) == 0
    assert ready[1] and not ready[4]
    agent = ScreeningAgent(space, model_dir, k=3, threshold=THRESHOLD, recover=RECOVER)
    agent.reset(first)
    action = agent.act(obs, 0.0)
    assert agent.records[-1]["substations"] == [1] and agent.recovery_calls == 1
    reference = np.asarray(first.topo_vect)
    expected = _back(space, reference, obs, 1)
    played = _value(obs, expected) < THRESHOLD
    assert action == (expected if played else space({}))
    obs, _r, _done, info = env.step(action)
    assert not info["is_illegal"]


def test_a_disconnected_line_end_is_never_set(env_cooldown, model_dir):
    env, space = env_cooldown, env_cooldown.action_space
    sub = 4  # its first element is line 1's end, which can be out with max rho below RECOVER
    positions = np.flatnonzero(np.repeat(np.arange(space.n_sub), space.sub_info) == sub)
    or_pos, ex_pos = (
        np.asarray(space.line_or_pos_topo_vect),
        np.asarray(space.line_ex_pos_topo_vect),
    )
    # the line at the substation's first element (one of the two _split puts on bus 2)
    end = int(positions[0])
    line = int(np.flatnonzero((or_pos == end) | (ex_pos == end))[0])
    env.set_id(0)
    first = env.reset()
    obs, *_ = env.step(_split(space, sub))
    obs, *_ = env.step(space({}))
    obs, _r, done, _info = env.step(space({"set_line_status": [(line, -1)]}))
    obs, *_ = env.step(space({}))
    assert not done and not obs.line_status[line] and obs.time_before_cooldown_line[line] > 0
    assert obs.time_before_cooldown_sub[sub] == 0 and float(obs.rho.max()) < RECOVER
    assert obs.topo_vect[end] == -1 and obs.topo_vect[positions[1]] == 2  # still away
    agent = GreedyAgent(space, model_dir, threshold=THRESHOLD, recover=RECOVER)
    agent.reset(first)
    ((got_sub, action),) = agent.recovery_actions(obs)
    assert got_sub == sub
    set_bus = np.asarray(action.set_bus)
    assert set_bus[end] == 0 and not np.any(np.asarray(action.line_set_status))
    connected = positions[np.asarray(obs.topo_vect)[positions] > 0]
    np.testing.assert_array_equal(set_bus[connected], np.asarray(first.topo_vect)[connected])
    assert np.all(set_bus[np.setdiff1d(np.arange(set_bus.size), connected)] == 0)
    played = agent.act(obs, 0.0)
    assert agent.recovery_calls == 1
    after, _r, _done, info = env.step(played)
    assert not info["is_illegal"] and not after.line_status[line]  # not reconnected


@pytest.mark.parametrize("recover", [0, -0.1, THRESHOLD + 0.01, float("nan"), True, "0.5"])
def test_a_bad_recover_is_one_line(env_case14, model_dir, recover):
    for make in (
        lambda: GreedyAgent(env_case14.action_space, model_dir, threshold=THRESHOLD,
                            recover=recover),
        lambda: ScreeningAgent(env_case14.action_space, model_dir, threshold=THRESHOLD,
                               recover=recover),
        lambda: RandomKAgent(env_case14.action_space, model_dir, threshold=THRESHOLD,
                             recover=recover),
    ):  # fmt: skip
        with pytest.raises(InvalidOption) as err:
            make()
        assert err.value.param == "recover" and "recover" in _one_line(err)
    assert GreedyAgent(env_case14.action_space, model_dir, recover=THRESHOLD).recover == THRESHOLD
