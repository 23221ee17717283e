#!/usr/bin/env bash
# Mutation-test evaluation/estimators.py and evaluation/statistics.py against the fast
# tests of tests/evaluation (docs/evaluation.md, "Mutation testing").
#
#   tests/evaluation/mutation/run.sh                  # every mutant, from scratch
#   MUTMUT_WORK=/tmp/x tests/evaluation/mutation/run.sh 'offline_rl.evaluation.*x_snips*'
#                                                     # re-run some mutants of a kept run
#
# mutmut 3 reads its [mutmut] section from setup.cfg in the directory it runs in and writes
# a mutants/ tree there; to keep both out of the repository (mutants/ would be collected by
# pytest and ruff) it runs on a copy of the tracked and untracked-but-not-ignored files in
# a temporary folder (kept, and printed at the end), with this folder's setup.cfg. It runs
# under `nice -n 10` with MUTMUT_CHILDREN (default 2) workers, and prints killed, survived,
# timed out and the killed share per module: a timeout is reported, never counted as a kill.
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
    cp "$repo/tests/evaluation/mutation/setup.cfg" "$work/setup.cfg"
fi
echo "working in $work"
cd "$work"
nice -n 10 "$mutmut" run --max-children "${MUTMUT_CHILDREN:-2}" "$@" > mutmut.log 2>&1 || true
"$mutmut" results --all true > results.txt || true
python3 - results.txt <<'PY'
import collections, re, sys
counts = collections.defaultdict(collections.Counter)
for line in open(sys.argv[1]):
    match = re.match(r"\s*offline_rl\.evaluation\.(\w+)\.\S+: (.+)$", line)
    if match:
        counts[match.group(1)][match.group(2).strip()] += 1
print(f"{'module':<12}{'total':>7}{'killed':>8}{'survived':>10}{'timeout':>9}{'other':>7}  killed share")
for module, c in sorted(counts.items()):
    total = sum(c.values())
    other = total - c["killed"] - c["survived"] - c["timeout"]
    print(f"{module:<12}{total:>7}{c['killed']:>8}{c['survived']:>10}{c['timeout']:>9}{other:>7}"
          f"  {c['killed'] / total:.1%}")
PY
grep -v ': killed' results.txt || true
echo "mutants and logs kept in $work (mutmut show NAME there prints a mutant's diff)"
