#!/usr/bin/env bash
# Mutation-test offline_rl/igl/decoder.py (Eq. 4) against the fast tests of
# tests/igl/test_decoder.py (docs/igl.md, "Tests that can fail"),
# with this folder's setup.cfg: tests/mutation_run.sh does the work (see it for the options).
#
#   tests/igl/mutation/run.sh [MUTANT_PATTERN ...]
exec "$(dirname "$0")/../../mutation_run.sh" "$(dirname "$0")" "$@"
