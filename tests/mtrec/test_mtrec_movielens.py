"""The optional MovieLens check skips cleanly without the recbole wheel."""

from __future__ import annotations

from offline_rl.mtrec.movielens import movielens_check


def test_skips_without_the_wheel(tmp_path):
    result = movielens_check(tmp_path, download=False)
    assert "skipped" in result and "recbole" in result["skipped"]
