"""Where ``prepare``'s validation spends its time: the rule queries one at a time, on DuckDB.

Runs the queries :func:`offline_rl.data.validation.check_rows` runs (the one-pass rule query,
the repeated-``event_id`` count, the rows per signal), plus the rule pass split into the
``candidate_actions`` distinctness rule, the other rules, and the ``action_probs`` rules, each
alone over the same Parquet file on one connection. Prints wall and CPU seconds (every
thread of this process). Input: a log written by ``bench_ik_training_set.py`` (its
``benchmarks/.data/logs-N.parquet``).

Usage: .venv/bin/python benchmarks/profile_validation.py benchmarks/.data/logs-10000000.parquet
"""

from __future__ import annotations

import argparse
import os
import resource
import time

from offline_rl.data.engines import sql_engine
from offline_rl.data.loading import _log_input, resolve_sources
from offline_rl.data.rule_queries import repeats_query, signals_query, violations_query
from offline_rl.data.validation import rules_to_check
from offline_rl.schema import CANDIDATES_ARE_A_SET, LOG_TABLE


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs")
    args = parser.parse_args()
    logs = _log_input(resolve_sources(args.logs), None)
    rules = rules_to_check(LOG_TABLE, logs.columns, logs.inputs)
    parameters = logs.inputs.parameters()
    queries_to_time = {
        f"every row rule in one pass ({len(rules)} rules)": violations_query(rules),
        "the pass without the candidate-set rule": violations_query([r for r in rules if r != CANDIDATES_ARE_A_SET]),
        "the candidate-set rule alone": violations_query([CANDIDATES_ARE_A_SET]),
        "the action_probs rules alone": violations_query(
            [r for r in rules if "action_probs" in (r.column, *r.needs)]
        ),
        "repeated event_id": repeats_query(),
        "rows per signal": signals_query(),
    }
    print(f"# {args.logs}, load average {os.getloadavg()[0]:.1f}")
    print("| query | wall s | CPU s |\n|---|---:|---:|")
    with sql_engine("duckdb").open({"logs": logs.view}) as queries:
        for name, query in queries_to_time.items():
            started, cpu = time.perf_counter(), _cpu_seconds()
            queries.run(query, {key: value for key, value in parameters.items() if f"${key}" in query})
            print(f"| {name} | {time.perf_counter() - started:.1f} | {_cpu_seconds() - cpu:.1f} |", flush=True)


if __name__ == "__main__":
    main()
