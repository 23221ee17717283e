#!/usr/bin/env bash
# Mutation-test evaluation/estimators.py and evaluation/statistics.py against the fast
# tests of tests/evaluation (docs/evaluation.md, "Mutation testing").
#
# mutmut 3 reads its [mutmut] section from pyproject.toml or setup.cfg in the directory it
# runs in and writes a mutants/ tree there; to keep both out of the repository (the
# pyproject is shared, and mutants/ would be collected by pytest and ruff) it runs on a
# copy of the tracked files in a temporary folder, with this folder's setup.cfg.
# Needs mutmut in the venv: .venv/bin/pip install mutmut   (not a project dependency).
set -euo pipefail
repo="$(git rev-parse --show-toplevel)"
work="$(mktemp -d)"
trap 'echo "mutants kept in $work"' EXIT
cd "$repo"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work"
cp "$repo/tests/evaluation/mutation/setup.cfg" "$work/setup.cfg"
cd "$work"
"$repo/.venv/bin/mutmut" run --max-children "${MUTMUT_CHILDREN:-2}" > mutmut.log 2>&1 || true
"$repo/.venv/bin/mutmut" results --all true > results.txt || true
killed=$(grep -c ': killed' results.txt || true)
total=$(grep -c ': ' results.txt || true)
echo "killed $killed of $total mutants"
grep -v ': killed' results.txt || true
