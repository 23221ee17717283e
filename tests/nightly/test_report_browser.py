"""A nightly run's report.html in headless Chromium: every image decodes, the banner is there.

Chromium is Debian's ``chromium`` package; ``make test-browser`` installs it (``apt-get install
-y chromium``) and runs this file with ``OFFLINE_RL_BROWSER_TEST=required``, so that a missing
browser fails there instead of skipping. Under plain ``make test`` the test skips without it.

How: a copy of the report gets a small script that, on ``load``, writes the number of images,
those that did not decode (``complete && naturalWidth > 0`` fails) and whether the decision
banner exists into a ``<pre>``; ``chromium --headless --dump-dom`` prints the DOM after load.
A second run takes a screenshot of the unmodified report into the test's tmp folder.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

from offline_rl.nightly import pipeline
from offline_rl.nightly.config import build_config, read_config_file

#: Flags Chromium needs in a container without a display, a sandbox or a network.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)

_CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (image) { return !(image.complete && image.naturalWidth > 0); });
  var banner = document.getElementById('decision');
  var out = document.createElement('pre');
  out.id = 'browser-check';
  out.textContent = JSON.stringify({
    images: images.length,
    broken: broken.map(function (image) { return image.alt; }),
    widths: images.map(function (image) { return image.naturalWidth; }),
    banner: banner ? banner.textContent : null
  });
  document.body.appendChild(out);
});
</script>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("OFFLINE_RL_BROWSER_TEST") == "required":
        pytest.fail("chromium is not installed, and `make test-browser` requires it (apt-get install -y chromium)")
    pytest.skip("chromium is not installed: `make test-browser` installs it (apt-get install -y chromium) and runs this")


def _chromium_run(binary: str, profile: Path, *arguments: str) -> subprocess.CompletedProcess:
    command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def nightly_report(partitioned_logs, fast_config, tmp_path_factory) -> Path:
    """A two-day run with QR-IQL and segments: every kind of plot the report draws."""
    folder = tmp_path_factory.mktemp("browser")
    users = pl.read_parquet(partitioned_logs / "**" / "*.parquet", hive_partitioning=False)["user_id"].unique().sort()
    segments = folder / "segments.parquet"
    pl.DataFrame({"user_id": users, "segment": [("a", "b", "c")[int(u) % 3] for u in users]}).write_parquet(segments)
    config = build_config(read_config_file(fast_config), logs=str(partitioned_logs), date="2026-11-02",
                          window_days=2, runs_dir=str(folder / "runs"), segments=str(segments))
    return pipeline.run_nightly(config, quiet=True).report_path


def test_report_images_decode_and_the_banner_shows_in_chromium(nightly_report, tmp_path):
    binary = _chromium()
    page = nightly_report.read_text(encoding="utf-8")
    expected_images = page.count("<img ")
    assert expected_images >= 6, "lift, segments, decoded signals, extremes, IK check, mental reward, weights"
    checked = tmp_path / "report-checked.html"
    checked.write_text(page.replace("</body>", _CHECK_SCRIPT + "</body>"), encoding="utf-8")
    dumped = _chromium_run(binary, tmp_path / "profile-dom", "--virtual-time-budget=10000", "--dump-dom",
                           checked.as_uri())
    found = re.search(r'<pre id="browser-check">(.*?)</pre>', dumped.stdout, re.S)
    assert found, f"chromium printed no check result (exit {dumped.returncode}): {dumped.stderr[-2000:]}"
    result = json.loads(html.unescape(found.group(1)))
    assert result["images"] == expected_images
    assert result["broken"] == [], f"images that did not decode: {result['broken']}"
    assert min(result["widths"]) > 0
    assert result["banner"] and ("HELD BACK" in result["banner"] or "PROMOTED" in result["banner"])
    screenshot = tmp_path / "report.png"
    shot = _chromium_run(binary, tmp_path / "profile-shot", "--window-size=1280,4000", "--hide-scrollbars",
                         f"--screenshot={screenshot}", nightly_report.as_uri())
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
