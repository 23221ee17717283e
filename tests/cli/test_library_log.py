"""The CLI shows the library's log records (it logs, never prints) only where asked."""

from __future__ import annotations

import logging

from offline_rl.cli import library_log


def test_library_log_shows_records_inside_the_block_only(capsys):
    logger = logging.getLogger("offline_rl.nightly.pipeline")
    with library_log():
        logger.info("fit_igl: reused from an earlier attempt")
    with library_log(enabled=False):
        logger.info("hidden when quiet")
    with library_log(err=False):
        logger.info("on stdout")
    logger.info("outside any block")
    captured = capsys.readouterr()
    assert captured.err == "fit_igl: reused from an earlier attempt\n"
    assert captured.out == "on stdout\n"
