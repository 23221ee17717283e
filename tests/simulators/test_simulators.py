"""Simulators: determinism, schema conformance, and the statistics each one promises."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from offline_rl.schema import LOG_SCHEMA, vocabulary_from_metadata
from offline_rl.simulators import (
    SIMULATORS,
    Rounds,
    UniformPolicy,
    make_environment,
    run_policy,
    simulate_logs,
    write_simulation,
)
from offline_rl.simulators.rounds import PAD_ACTION
from offline_rl.simulators.sampling import categorical_codes, sample_without_replacement

NAMES = sorted(SIMULATORS)
ROWS = 3_000


@pytest.fixture(scope="module")
def sims():
    return {name: simulate_logs(name, rows=ROWS, seed=7) for name in NAMES}


def within(observed: float, expected: float, n: int, *, sigmas: float = 4.0) -> bool:
    """|observed - expected| within ``sigmas`` binomial standard errors."""
    se = math.sqrt(max(expected * (1 - expected), 1e-12) / n)
    return abs(observed - expected) <= sigmas * se


def column(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy()


# ------------------------------------------------------------------------------------------
# Shared contract


@pytest.mark.parametrize("name", NAMES)
def test_schema_matches_log_schema(sims, name):
    sim = sims[name]
    table = sim.logs
    assert table.num_rows == ROWS
    assert [(f.name, f.type) for f in table.schema] == [(f.name, f.type) for f in LOG_SCHEMA]
    assert vocabulary_from_metadata(table.schema.metadata) == sim.vocabulary
    assert set(column(table, "feedback")) <= set(sim.vocabulary)
    assert table.column("event_id").to_pylist() == list(range(ROWS))
    ts = column(table, "ts").astype("datetime64[us]").astype(np.int64)
    assert (np.diff(ts) > 0).all()
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")


@pytest.mark.parametrize("name", NAMES)
def test_actions_propensities_and_probs_are_consistent(sims, name):
    table = sims[name].logs
    candidates = table.column("candidate_actions").to_pylist()
    probs = table.column("action_probs").to_pylist()
    actions = column(table, "action")
    propensity = column(table, "propensity")
    assert ((propensity > 0) & (propensity <= 1)).all()
    for cands, p, a, prop in zip(candidates[:500], probs[:500], actions, propensity, strict=False):
        assert len(cands) == len(p) == len(set(cands))
        assert a in cands
        assert math.isclose(sum(p), 1.0, abs_tol=1e-9)
        assert math.isclose(p[cands.index(a)], prop, rel_tol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_tables_other_seed_differs(name):
    a = simulate_logs(name, rows=400, seed=11)
    b = simulate_logs(name, rows=400, seed=11)
    c = simulate_logs(name, rows=400, seed=12)
    assert a.logs.equals(b.logs, check_metadata=True)
    assert a.truth == b.truth
    assert (a.actions is None) == (b.actions is None)
    if a.actions is not None:
        assert a.actions.equals(b.actions)
    assert not a.logs.equals(c.logs)


@pytest.mark.parametrize("name", NAMES)
def test_users_return_several_times(sims, name):
    users = column(sims[name].logs, "user_id")
    _, counts = np.unique(users, return_counts=True)
    assert np.median(counts) >= 3


@pytest.mark.parametrize("name", NAMES)
def test_write_simulation_round_trips(tmp_path, name):
    sim = simulate_logs(name, rows=200, seed=3)
    written = write_simulation(sim, tmp_path / name)
    logs = pq.read_table(written["logs"])
    assert logs.equals(sim.logs)
    assert vocabulary_from_metadata(logs.schema.metadata) == sim.vocabulary
    assert json.loads(written["truth"].read_text()) == json.loads(json.dumps(sim.truth))
    if sim.actions is None:
        assert "actions" not in written
    else:
        assert pq.read_table(written["actions"]).equals(sim.actions)
    assert sorted(p.name for p in (tmp_path / name).iterdir()) == sorted(
        p.name for p in written.values()
    )


# Sessions are sequential: their environment plays policies through run_sessions
# (tested in tests/mtrec), not through the round-based run_policy.
@pytest.mark.parametrize("name", [name for name in NAMES if name != "sessions"])
def test_environment_matches_simulation_and_runs_other_policies(name):
    sim = simulate_logs(name, rows=300, seed=5)
    env = make_environment(name, seed=5)
    assert env.vocabulary == sim.vocabulary
    assert sim.truth == simulate_logs(name, rows=10, seed=5).truth | {"rows": 300}
    # Uniform play on fresh traffic: same users/contexts as any other policy with that seed.
    uniform = run_policy(env, UniformPolicy(), 300, seed=99, start_event_id=1000)
    greedy = run_policy(env, _first_candidate, 300, seed=99)
    assert column(uniform, "event_id")[0] == 1000
    assert uniform.column("user_id").equals(greedy.column("user_id"))
    assert uniform.column("context").equals(greedy.column("context"))
    firsts = [c[0] for c in greedy.column("candidate_actions").to_pylist()]
    assert column(greedy, "action").tolist() == firsts
    assert (column(greedy, "propensity") == 1.0).all()


def _first_candidate(rounds: Rounds) -> np.ndarray:
    probs = np.zeros(rounds.candidate_actions.shape)
    probs[:, 0] = 1.0
    return probs


# The constraints of every simulator config are rows of the shared table in
# tests/test_config.py; these check that simulate_logs applies them.
@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("covertype", {"n_users": 1}, r"The 'n_users' parameter of CovertypeConfig must be an int >= 2\. Got 1"),
        ("covertype", {"colour": "red"}, r"Unknown CovertypeConfig setting\(s\) \['colour'\]"),
        ("sessions", {"n_items": 5, "n_categories": 2, "n_candidates": 6}, "'n_candidates' parameter of SessionsConfig"),
        ("covertype", {"rows": -1}, r"'rows' parameter of SimulationRun must be an int >= 0\. Got -1"),
        ("news", {"seed": True}, r"'seed' parameter of SimulationRun must be an int >= 0\. Got True"),
        ("nope", {}, "Unknown simulator 'nope'; valid names"),
    ],
)
def test_bad_options_are_named(name, options, match):
    size = {"rows": 10, "seed": 0}
    with pytest.raises(ValueError, match=match):
        simulate_logs(name, **{**size, **options})


def test_bad_policy_output_is_rejected():
    env = make_environment("covertype", seed=0)
    with pytest.raises(ValueError, match="must sum to 1"):
        run_policy(env, lambda r: np.full(r.candidate_actions.shape, 0.5), 5, seed=0)
    with pytest.raises(ValueError, match="shape"):
        run_policy(env, lambda r: np.ones((len(r), 2)), 5, seed=0)


def test_categorical_codes_never_pick_zero_probability():
    rng = np.random.default_rng(0)
    probs = np.array([[0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    probs = np.repeat(probs, 2000, axis=0)
    codes = categorical_codes(probs, rng)
    assert (probs[np.arange(len(probs)), codes] > 0).all()


def test_sample_without_replacement_distinct_and_padded():
    rng = np.random.default_rng(0)
    sizes = rng.integers(2, 9, size=500)
    draws = sample_without_replacement(500, 10, sizes, rng)
    assert draws.shape == (500, sizes.max())
    for row, k in zip(draws, sizes, strict=True):
        assert len(set(row[:k])) == k and (row[:k] >= 0).all() and (row[:k] < 10).all()
        assert (row[k:] == PAD_ACTION).all()


# ------------------------------------------------------------------------------------------
# Covertype (IGL-P Section 4.1)


def test_covertype_uniform_reward_rate_and_word_conventions(sims):
    sim = sims["covertype"]
    table, truth = sim.logs, sim.truth
    reward = column(table, "reward")
    assert set(np.unique(reward)) <= {0.0, 1.0}
    assert np.allclose(column(table, "propensity"), 1 / 7)
    assert within(reward.mean(), 1 / 7, ROWS)
    good = set(truth["good_words"])
    bizarro = np.asarray(truth["user_is_bizarro"])[column(table, "user_id")]
    said_good = np.array([w in good for w in table.column("feedback").to_pylist()])
    positive = reward == 1
    # Normal users: good word iff r = 1; bizarro users: the opposite. Exactly.
    assert said_good[positive & ~bizarro].all() and not said_good[~positive & ~bizarro].any()
    assert not said_good[positive & bizarro].any() and said_good[~positive & bizarro].all()
    assert len(truth["good_words"]) == len(truth["bad_words"]) == 50
    assert sum(truth["user_is_bizarro"]) == 50
    assert len(sim.vocabulary) == 100 and sim.vocabulary[7] == "word_007"


def test_covertype_epsilon_greedy_logging_is_non_uniform():
    sim = simulate_logs("covertype", rows=2_000, seed=1, logging="epsilon_greedy", epsilon=0.3)
    propensity = column(sim.logs, "propensity")
    assert np.allclose(np.unique(propensity.round(9)), [0.3 / 7, 0.7 + 0.3 / 7])
    # The scorer beats uniform play but is far from perfect.
    assert 0.3 < column(sim.logs, "reward").mean() < 0.7


def test_covertype_context_standardized_or_raw():
    raw = simulate_logs("covertype", rows=200, seed=0)
    std = simulate_logs("covertype", rows=200, seed=0, standardize_context=True)
    x_std = np.array(std.logs.column("context").to_pylist())
    x_raw = np.array(raw.logs.column("context").to_pylist())
    assert x_std.shape == x_raw.shape == (200, 54)
    mean, sd = np.array(std.truth["feature_mean"]), np.array(std.truth["feature_std"])
    assert np.allclose((x_raw - mean) / sd, x_std, atol=1e-4)


# ------------------------------------------------------------------------------------------
# Production (IGL-P Section 4.3)


def test_production_feedback_semantics(sims):
    sim = sims["production"]
    reward = column(sim.logs, "reward")
    feedback = np.asarray(sim.logs.column("feedback").to_pylist())
    assert set(np.unique(reward)) <= {-1.0, 0.0, 1.0}
    assert set(feedback) <= {"none", "click", "like", "dislike"}
    # Definitely negative holds exactly: dislike only with r = -1, never with r = +1.
    assert (reward[feedback == "dislike"] == -1).all()
    # Clickbait: r = -1 is clicked often; r = 0 is mostly silent.
    negative, neutral = reward == -1, reward == 0
    assert (feedback[negative] == "click").mean() > 0.3
    assert (feedback[neutral] == "none").mean() > 0.85
    # The production baseline explores: every candidate keeps probability >= 0.2 / K.
    probs = np.concatenate(sim.logs.column("action_probs").to_pylist()[:200])
    assert probs.min() >= 0.2 / 20 - 1e-12
    assert not np.allclose(column(sim.logs, "propensity"), 1 / 20)
    assert sim.actions.num_rows == 500
    assert len(set(sim.truth["user_style"])) == 3


def test_production_rewards_rare_under_uniform_play():
    sim = simulate_logs("production", rows=4_000, seed=2, logging="uniform")
    reward = column(sim.logs, "reward")
    assert np.allclose(column(sim.logs, "propensity"), 1 / 20)
    assert (reward != 0).mean() < 0.3
    assert within((reward == 1).mean(), 0.10, reward.size, sigmas=5)
    assert within((reward == -1).mean(), 0.06, reward.size, sigmas=5)


def test_production_two_state_reading_raises_dislikes():
    """Choosing items by P(r != 0) (2-state IGL's reading) shows more dislikes than by E[r]."""
    env = make_environment("production", seed=0)

    def greedy(score):
        def policy(rounds):
            probs = np.zeros(rounds.candidate_actions.shape)
            probs[np.arange(len(rounds)), score(rounds).argmax(axis=1)] = 1.0
            return probs

        return policy

    def extreme(rounds):
        p_neg, _, p_pos = env.reward_probabilities(rounds)
        return p_neg + p_pos

    def expected(rounds):
        p_neg, _, p_pos = env.reward_probabilities(rounds)
        return p_pos - p_neg

    n = 3_000
    two = np.asarray(run_policy(env, greedy(extreme), n, seed=1).column("feedback").to_pylist())
    three = np.asarray(run_policy(env, greedy(expected), n, seed=1).column("feedback").to_pylist())
    assert (two == "dislike").mean() > (three == "dislike").mean() + 0.02


# ------------------------------------------------------------------------------------------
# News (IGL-P Section 4.2)


def test_news_reactions_and_variable_candidate_sets(sims):
    sim = sims["news"]
    reward = column(sim.logs, "reward")
    feedback = np.asarray(sim.logs.column("feedback").to_pylist())
    assert (reward[feedback == "angry"] == -1).all() and (feedback == "angry").any()
    sizes = np.array([len(c) for c in sim.logs.column("candidate_actions").to_pylist()])
    assert sizes.min() >= 5 and sizes.max() <= 12 and len(np.unique(sizes)) >= 6
    assert np.allclose(column(sim.logs, "propensity"), 1 / sizes)
    assert within((reward == 1).mean(), 0.12, reward.size, sigmas=5)
    assert within((reward == -1).mean(), 0.08, reward.size, sigmas=5)
    features = np.array(sim.actions.column("features").to_pylist())
    assert features.shape == (300, 5 + 12)
    assert np.allclose(features[:, :5].sum(axis=1), 1.0)
    groups = sorted(set(sim.truth["user_group"]))
    assert groups == ["fox", "huffpost", "time"]
    context = np.array(sim.logs.column("context").to_pylist())
    assert context.shape[1] == 3 and np.allclose(context.sum(axis=1), 1.0)


def test_news_emoji_conventions_differ_by_group():
    """Emoji reactions signal good posts for time readers but bad posts for fox readers."""
    from offline_rl.simulators.news import EMOJI, GROUPS, REACTION_TABLE, VOCABULARY

    emoji = [VOCABULARY.index(e) for e in EMOJI]
    p_emoji = REACTION_TABLE[:, :, emoji].sum(axis=2)  # [group, r + 1]
    fox, huffpost, time = (GROUPS.index(g) for g in ("fox", "huffpost", "time"))
    assert p_emoji[time, 2] > p_emoji[time, 0]
    assert p_emoji[fox, 0] > p_emoji[fox, 2] and p_emoji[huffpost, 0] > p_emoji[huffpost, 2]
    assert np.allclose(REACTION_TABLE.sum(axis=2), 1.0)
    angry = VOCABULARY.index("angry")
    assert (REACTION_TABLE[:, 1:, angry] == 0).all()
