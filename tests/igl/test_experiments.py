"""The paper's experiments: the 5-seed Covertype acceptance (slow) and tiny smoke runs."""

from __future__ import annotations

import pytest

from offline_rl.igl.experiments.covertype import run_covertype_experiment


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_covertype_acceptance(tmp_path, seed):
    """Section 4.1 on 60k events: precision >= .90, F1 >= .85, policy >= .9 x oracle and
    >= .70, purity 1.0 (per-user reading) and >= .9 (raw 2-D embeddings), every seed."""
    result = run_covertype_experiment(tmp_path, seed, make_figure=False)
    assert result.passed, result.failures


@pytest.fixture(scope="module")
def production_result(tmp_path_factory):
    from offline_rl.igl.experiments.production import run_production_experiment

    out = tmp_path_factory.mktemp("production")
    return run_production_experiment(out, 0, make_figure=False)


@pytest.mark.slow
def test_production_off_policy_agrees_with_on_policy(production_result):
    assert production_result.table["agree"].all(), production_result.failures


@pytest.mark.slow
def test_production_two_states_raise_dislikes_more(production_result):
    table = production_result.table
    dislikes = {row["algorithm"]: row for row in table.iter_rows(named=True)
                if row["metric"] == "dislikes"}
    for side in ("ope", "on_policy"):
        assert dislikes["IGL-P(2)"][f"{side}_lower"] > 1.0
        # the oracle cuts dislikes: IGL-P(3)'s interval lies wholly below IGL-P(2)'s
        assert dislikes["IGL-P(3)"][f"{side}_upper"] < dislikes["IGL-P(2)"][f"{side}_lower"]


@pytest.mark.slow
def test_production_three_states_come_close_to_the_baseline_on_engagement(production_result):
    """Point ratios 0.90-0.95 and 95% lower bounds 0.864-0.929 over seeds 0-2 (docs/igl.md);
    a lower bound above 0.85 says 'within 15% of the baseline' with 95% confidence."""
    for row in production_result.table.iter_rows(named=True):
        if row["algorithm"] == "IGL-P(3)" and row["metric"] in ("clicks", "likes"):
            assert row["ope_lower"] > 0.85 and row["on_policy_lower"] > 0.85, row


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "Measured (seeds 0, 1, 2): against the contextual bandit trained on the hand-engineered "
    "reward, IGL-P(3) is within 5-10% on clicks and likes but raises dislikes x1.8 [1.17, 2.79], "
    "x3.0 [2.14, 4.40] and x2.7 [1.74, 4.02] off-policy (on-policy lower bounds 1.02, 1.97, "
    "1.72): only ~57% of "
    "dislikes are extreme events and ~32% of clickbait clicks decode to +1; docs/igl.md "
    "(Production)"))
def test_production_three_states_do_not_raise_dislikes(production_result):
    assert production_result.passed, production_result.failures


@pytest.mark.slow
def test_news_fairness(tmp_path):
    from offline_rl.igl.experiments.news import run_news_experiment

    result = run_news_experiment(tmp_path, 0, make_figure=False)
    assert result.passed, result.failures


def test_covertype_smoke(tmp_path, capsys, caplog):
    """The experiment runs end to end on a tiny budget, writes its figure and table, and
    logs its summary (library code never prints)."""
    import logging

    from offline_rl.igl.experiments.covertype import covertype_config

    config = covertype_config(0, ik_epochs=2, ik_warmup_epochs=1, ik_restarts=1,
                              policy_epochs=1, max_threads=1)
    with caplog.at_level(logging.INFO, logger="offline_rl.igl.experiments"):
        result = run_covertype_experiment(tmp_path, 0, rows=3000, config=config)
    assert result.figure.is_file() and result.table_path.is_file()
    assert {"decoded_precision", "oracle_ratio", "user_purity_reading"} <= set(result.metrics)
    assert capsys.readouterr().out == ""
    summary = result.summary()
    assert "decoded_precision" in summary and summary in caplog.text
    if result.failures:  # a tiny budget usually fails the acceptance checks
        assert summary.endswith("FAILED: " + "; ".join(result.failures))
        assert any(r.levelname == "WARNING" and "FAILED:" in r.message for r in caplog.records)
