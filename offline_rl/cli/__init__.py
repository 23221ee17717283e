"""The ``offline-rl`` command line: a thin layer over library functions.

Each command lives in its own module of this package and is a few lines over one library
call. Errors the library raises for bad input (:class:`~offline_rl.errors.SchemaError` and
other ``ValueError``/``FileNotFoundError``) become one clear message on stderr and exit code 2;
anything else is a bug and keeps its traceback. The library reports progress through
``logging`` (loggers under ``offline_rl``); a command shows those records with
:func:`library_log`.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
from collections.abc import Iterator

import click

from offline_rl import __version__

#: command name -> "module:attribute"; imported lazily so ``--help`` stays fast and a
#: command's heavy dependencies (torch) load only when that command runs.
COMMANDS: dict[str, str] = {
    "validate": "offline_rl.cli.validate:validate",
    "prepare": "offline_rl.cli.prepare:prepare",
    "simulate": "offline_rl.cli.simulate:simulate",
    "evaluate": "offline_rl.cli.evaluate:evaluate",
    "fit-igl": "offline_rl.cli.fit_igl:fit_igl",
    "score": "offline_rl.cli.score:score",
    "experiment": "offline_rl.cli.experiment:experiment",
    "sql": "offline_rl.cli.sql:sql",
    "nightly": "offline_rl.cli.nightly:nightly",
    "fit-qriql": "offline_rl.cli.fit_qriql:fit_qriql",
}

#: One-line help per command, shown by ``offline-rl --help`` without importing the command.
SHORT_HELP: dict[str, str] = {
    "validate": "Check logs against the canonical schema and print a one-line summary.",
    "prepare": "Run the SQL jobs (IK training set, user trajectories) and write Parquet.",
    "simulate": "Write simulated logs (covertype, production, news) in the canonical schema.",
    "evaluate": "Off-policy evaluation of a candidate policy with bootstrap lift intervals.",
    "fit-igl": "Fit IGL-P (2 or 3 latent states) and write the model and decoded rewards.",
    "score": "Score decisions with a fitted IGL-P policy: probability per candidate, greedy pick.",
    "experiment": "Run one of the papers' experiments end to end (figure + table).",
    "sql": "Read-only SQL over a run's Parquet outputs (decoded rewards, lift, ...).",
    "nightly": "The nightly job: validate, SQL jobs, fit IGL-P/QR-IQL, evaluate, report.",
    "fit-qriql": "Fit QR-IQL (N quantiles; N=1 is IQ-Learn); write the model and mental rewards.",
}


class UserInputError(click.ClickException):
    """Bad input reported as one line on stderr with exit code 2."""

    exit_code = 2

    def show(self, file=None) -> None:  # noqa: D102 - click's signature
        click.echo(f"error: {self.format_message()}", err=True, file=file)


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if _available(name))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or not _available(cmd_name):
            return None
        module_name, attribute = COMMANDS[cmd_name].split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SHORT_HELP.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (ValueError, FileNotFoundError) as error:
            # SchemaError, NotFittedError and HiddenRewardError subclass ValueError.
            raise UserInputError(str(error)) from error


class _EchoHandler(logging.Handler):
    """Writes log records through ``click.echo``, which finds the current stream at each call."""

    def __init__(self, *, err: bool, level: int) -> None:
        super().__init__(level)
        self.err = err
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=self.err)
        except Exception:  # a broken stream must not stop the work being logged
            self.handleError(record)


@contextlib.contextmanager
def library_log(*, enabled: bool = True, err: bool = True, level: int = logging.INFO) -> Iterator[None]:
    """Show the library's log records (loggers under ``offline_rl``) while the block runs:
    on stderr, or on stdout with ``err=False``; nothing when not ``enabled``."""
    if not enabled:
        yield
        return
    logger = logging.getLogger("offline_rl")
    handler = _EchoHandler(err=err, level=level)
    previous_level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > level:
        logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


def _available(name: str) -> bool:
    module_name = COMMANDS[name].split(":")[0]
    return importlib.util.find_spec(module_name) is not None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="offline-rl")
def main() -> None:
    """Batch offline reward learning for recommender systems (IGL-P, QR-IQL, OPE)."""
