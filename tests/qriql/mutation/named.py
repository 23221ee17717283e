"""The named mutations of issue #14 (and the same kind in the IQ-Learn objective, pinball
loss, soft value and r* = Q - gamma V(s')): each applied alone to a copy of the repository,
then the fast QR-IQL / MTRec tests run; a mutation is killed when a test fails.

    .venv/bin/python tests/qriql/mutation/named.py [NAME ...]

Prints one line per mutation (killed / SURVIVED, seconds, the first failing test) and exits
1 if any survived. mutmut (run.sh) enumerates every mutant; this list is the plausible
mistakes a reviewer named, checked in minutes rather than hours.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

#: name -> (file, text, replacement): the text must occur exactly once.
MUTATIONS = {
    "classifier: r*(a^P) and r*(a^N) swapped": (
        "offline_rl/mtrec/classifier.py",
        "return -(reward_positive * prob + reward_negative * (1.0 - prob)).mean()",
        "return -(reward_negative * prob + reward_positive * (1.0 - prob)).mean()"),
    "classifier: alignment on logits, not probabilities": (
        "offline_rl/mtrec/classifier.py",
        "alignment_loss(torch.sigmoid(logits),",
        "alignment_loss(logits,"),
    "learner: counterfactual next state not flipped": (
        "offline_rl/qriql/features.py",
        "responses[has_last, -1] = np.clip(counterfactual[has_last], 0, n_actions - 1) + 1",
        "pass"),
    "DIEN: attention removed from the gated GRU": (
        "offline_rl/mtrec/backbones.py",
        "update = torch.sigmoid(self.update(x)) * weights[:, t:t + 1]",
        "update = torch.sigmoid(self.update(x))"),
    "SASRec: causal mask removed": (
        "offline_rl/mtrec/backbones.py",
        "blocked = torch.triu(torch.ones(length, length, dtype=torch.bool, device=x.device), diagonal=1)",
        "blocked = torch.zeros(length, length, dtype=torch.bool, device=x.device)"),
    "QR-IQL: V(s') detached in training": (
        "offline_rl/qriql/objective.py",
        "    next_value = _next_value(soft_value(next_quantile_values, temperature, dim=1), done,\n"
        "                             terminal_value)\n    u1 = chosen - value",
        "    next_value = _next_value(soft_value(next_quantile_values, temperature, dim=1), done,\n"
        "                             terminal_value).detach()\n    u1 = chosen - value"),
    "IQ-Learn: V(s') detached in training": (
        "offline_rl/qriql/objective.py",
        "next_value = _next_value(soft_value(q_next, temperature, dim=1), done, terminal_value)",
        "next_value = _next_value(soft_value(q_next, temperature, dim=1), done, terminal_value).detach()"),
    "IQ-Learn: gamma dropped from (Q - gamma V(s'))^2": (
        "offline_rl/qriql/objective.py",
        "    u1 = chosen - value\n    u2 = (chosen - gamma * next_value) ** 2 / (4.0 * alpha)\n    return LossParts",
        "    u1 = chosen - value\n    u2 = (chosen - next_value) ** 2 / (4.0 * alpha)\n    return LossParts"),
    "IQ-Learn: u1 sign flipped": (
        "offline_rl/qriql/objective.py",
        "return LossParts(loss=(-u1 + u2).mean(), u1=u1.mean(), u2=u2.mean())",
        "return LossParts(loss=(u1 + u2).mean(), u1=u1.mean(), u2=u2.mean())"),
    "pinball: tau and 1 - tau swapped": (
        "offline_rl/qriql/objective.py",
        "return torch.where(u >= 0, tau * u, (tau - 1.0) * u)",
        "return torch.where(u >= 0, (1.0 - tau) * u, -tau * u)"),
    "soft value: temperature outside dropped": (
        "offline_rl/qriql/network.py",
        "return temperature * torch.logsumexp(q / temperature, dim=dim)",
        "return torch.logsumexp(q / temperature, dim=dim)"),
    "soft value: max instead of logsumexp": (
        "offline_rl/qriql/network.py",
        "return temperature * torch.logsumexp(q / temperature, dim=dim)",
        "return q.max(dim=dim).values"),
    "r*: Q - V(s') without gamma": (
        "offline_rl/qriql/objective.py",
        "reward = q - gamma * next_value.unsqueeze(1)",
        "reward = q - next_value.unsqueeze(1)"),
    "r*: quantile rewards without gamma": (
        "offline_rl/qriql/objective.py",
        "reward_quantiles = quantile_values - gamma * next_value_i.unsqueeze(1)",
        "reward_quantiles = quantile_values - next_value_i.unsqueeze(1)"),
    "terminal: V(s') kept at the end of a session": (
        "offline_rl/qriql/objective.py",
        "return torch.where(mask, terminal.expand_as(value), value)",
        "return value"),
}

TESTS = [
    "tests/qriql/test_qriql_objective.py", "tests/qriql/test_qriql_learner.py",
    "tests/qriql/test_qriql_training.py", "tests/mtrec/test_mtrec_classifier.py",
    "tests/mtrec/test_mtrec_backbones.py",
]


def _copy_repository(target: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, check=True, capture_output=True).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name.decode())


def run(names: list[str]) -> int:
    survived = 0
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        _copy_repository(work)
        for name in names:
            path, text, replacement = MUTATIONS[name]
            original = (work / path).read_text()
            if original.count(text) != 1:
                raise SystemExit(f"{name}: the text to mutate occurs {original.count(text)} times in {path}")
            (work / path).write_text(original.replace(text, replacement))
            start = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *TESTS],
                cwd=work, capture_output=True, text=True,
                env={"PYTHONPATH": str(work), "PATH": "/usr/bin:/bin"})
            (work / path).write_text(original)
            failed = re.search(r"^FAILED (\S+)", result.stdout, re.M)
            killed = result.returncode != 0
            survived += not killed
            print(f"{'killed  ' if killed else 'SURVIVED'} {time.perf_counter() - start:6.0f} s  {name}"
                  + (f"  ({failed.group(1)})" if failed else ""), flush=True)
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:] or list(MUTATIONS)))
