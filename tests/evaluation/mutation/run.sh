#!/usr/bin/env bash
# Mutation-test evaluation/estimators.py and evaluation/statistics.py against the fast
# tests of tests/evaluation (docs/evaluation.md, "Mutation testing"),
# with this folder's setup.cfg: tests/mutation_run.sh does the work (see it for the options).
#
#   tests/evaluation/mutation/run.sh [MUTANT_PATTERN ...]
exec "$(dirname "$0")/../../mutation_run.sh" "$(dirname "$0")" "$@"
