#!/usr/bin/env bash
# Mutation-test the QR-IQL / MTRec core: qriql/objective.py, qriql/learner.py,
# qriql/training.py and mtrec/classifier.py (docs/qriql.md, "Mutation testing"),
# with this folder's setup.cfg: tests/mutation_run.sh does the work (see it for the options).
#
#   tests/qriql/mutation/run.sh [MUTANT_PATTERN ...]
exec "$(dirname "$0")/../../mutation_run.sh" "$(dirname "$0")" "$@"
