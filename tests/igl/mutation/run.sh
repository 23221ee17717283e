#!/usr/bin/env bash
# Mutation-test offline_rl/igl/decoder.py (Eq. 4) against the fast tests of
# tests/igl/test_decoder.py (docs/igl.md, "Tests that can fail").
#
#   tests/igl/mutation/run.sh
#
# As tests/evaluation/mutation/run.sh: mutmut 3 runs on a copy of the tracked and
# untracked-but-not-ignored files in a temporary folder (kept, and printed at the end) with
# this folder's setup.cfg, under `nice -n 10` with MUTMUT_CHILDREN (default 2) workers, and
# prints killed, survived and timed out: a timeout is reported, never counted as a kill.
# Needs mutmut in the venv (a dev tool, not a dependency): .venv/bin/pip install mutmut==3.8.1
set -euo pipefail
repo="$(git rev-parse --show-toplevel)"
mutmut="$repo/.venv/bin/mutmut"
test -x "$mutmut" || { echo "mutmut missing: $repo/.venv/bin/pip install mutmut==3.8.1" >&2; exit 2; }
work="${MUTMUT_WORK:-}"
if [ -z "$work" ]; then
    work="$(mktemp -d)"
    cd "$repo"
    git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work"
    cp "$repo/tests/igl/mutation/setup.cfg" "$work/setup.cfg"
fi
echo "working in $work"
cd "$work"
nice -n 10 "$mutmut" run --max-children "${MUTMUT_CHILDREN:-2}" "$@" > mutmut.log 2>&1 || true
"$mutmut" results --all true > results.txt || true
python3 - results.txt <<'PY'
import collections, sys
counts = collections.Counter(line.rsplit(": ", 1)[1].strip() for line in open(sys.argv[1])
                             if "__mutmut_" in line and ": " in line)
total = sum(counts.values())
print(f"decoder.py: {total} mutants, {counts['killed']} killed, {counts['survived']} survived, "
      f"{counts['timeout']} timed out, {total - counts['killed'] - counts['survived'] - counts['timeout']} other"
      + (f"; killed share {counts['killed'] / total:.1%}" if total else ""))
PY
grep -v ': killed' results.txt || true
echo "mutants and logs kept in $work (mutmut show NAME there prints a mutant's diff)"
