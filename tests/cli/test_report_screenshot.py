"""The HTML report is self-contained and, opened in headless Chromium, shows its score plot and graph."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from backprose.report import write_report
from backprose.train import ScriptedOptimizer, Trainer

sys.path.insert(0, str(Path(__file__).parent))
from cli_programs import Multiplier  # noqa: E402

SETUP = Path(__file__).resolve().parents[2] / ".ci" / "setup_chromium.sh"


def _find() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def chromium() -> str:
    """The browser; in CI (as root) the test setup installs Debian's chromium first, elsewhere it skips."""
    found = _find()
    if not found and os.environ.get("CI") and os.geteuid() == 0:
        done = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=900, check=False)
        found = _find()
        if not found:
            pytest.skip(f"installing chromium failed: {done.stderr[-500:]}")
    if not found:
        pytest.skip(f"headless Chromium is not installed (run {SETUP} or apt-get install chromium)")
    return found


def decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """Width, height, bytes per pixel and raw unfiltered pixels of an 8-bit RGB/RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, out, prev = zlib.decompress(idat), width * bpp, bytearray(), bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line
        prev = line
    return width, height, bpp, bytes(out)


def count_color(png: bytes, rgb: tuple[int, int, int], tol: int = 12) -> int:
    width, height, bpp, px = decode_png(png)
    return sum(1 for i in range(0, len(px), bpp)
               if all(abs(px[i + k] - rgb[k]) <= tol for k in range(3)))


@pytest.fixture
def run_dir(tmp_path):
    module = Multiplier()
    opt = ScriptedOptimizer(module.parameters(), [{"k": 2}, {"k": 3}, {"k": 4}])
    Trainer(module, [(i, 3 * i) for i in range(1, 7)], [(i, 3 * i) for i in range(10, 14)], "numeric", opt,
            steps=3, batch_size=3, run_dir=tmp_path / "run", config={"metric": "numeric"}).fit()
    return tmp_path / "run"


def test_report_is_self_contained(run_dir):
    page = write_report(run_dir).read_text(encoding="utf-8")
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from the network
    assert "<script" not in page
    assert page.count('class="chart"') == 1 and "polyline" in page
    assert "accepted" in page and "rejected" in page and "<ins>3</ins>" in page
    assert "0.000 &rarr; 1.000" in page


def test_report_renders_its_plots_in_headless_chromium(run_dir, tmp_path):
    browser = chromium()
    report = write_report(run_dir)
    shot = tmp_path / "shot.png"
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--disable-background-networking", "--hide-scrollbars", "--window-size=1000,1200",
                           f"--screenshot={shot}", report.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.exists(), done.stderr[-2000:]
    png = shot.read_bytes()
    blue = count_color(png, (0x1F, 0x77, 0xB4))  # the validation curve
    red = count_color(png, (0xD6, 0x27, 0x28))  # the minibatch curve
    assert blue > 200 and red > 100, (blue, red)

