"""Every page qtrade writes loads in a real browser without errors, without a request leaving the machine, and with
every chart drawn; and the browser probe itself sees each of those faults. (The backtest tearsheet's page is
loaded in tests/test_tearsheet.py and tests/test_forecast_report.py, beside the fixtures that build it.)"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from forecasting.market.synthetic import synthetic_panel
from forecasting.pipeline import ForecastConfig
from forecasting.tuning.search import tune_forecaster
from tests.browser import load_page


def _png(width: int, height: int) -> bytes:
    """A red PNG, written from the format's definition (signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_the_probe_sees_each_fault_a_page_can_have(tmp_path: Path) -> None:
    (tmp_path / "chart.png").write_bytes(_png(4, 3))
    (tmp_path / "empty.png").write_bytes(b"")
    good = tmp_path / "good.html"
    good.write_text(
        '<!doctype html><html><head><title>ok</title></head><body><img src="chart.png">'
        '<svg width="20" height="20"><rect width="10" height="8"/></svg></body></html>',
        encoding="utf-8",
    )
    loaded = load_page(good)
    assert loaded.errors == [] and loaded.outside_requests == []
    assert [(c["kind"], c["ok"]) for c in loaded.charts] == [("img", True), ("svg", True)]

    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!doctype html><html><head><link rel="stylesheet" href="https://cdn.example.com/x.css">'
        '</head><body onload="save()"><img src="chart.png"><img src="missing.png"><img src="empty.png">'
        '<svg width="20" height="20"></svg><script>console.error("boom")</script></body></html>',
        encoding="utf-8",
    )
    loaded = load_page(bad)
    text = "\n".join(loaded.errors)
    assert "save is not defined" in text and "console.error: boom" in text and "missing.png" in text
    assert loaded.outside_requests == ["https://cdn.example.com/x.css"]
    assert [(c["kind"], c["ok"]) for c in loaded.charts] == [
        ("img", True),
        ("img", False),
        ("img", False),
        ("svg", False),
    ]
    assert not list(tmp_path.glob(".probe-*")), "the probe's copy of the page was left behind"


@pytest.mark.slow
def test_the_tuning_report_loads_with_every_chart(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    tune_forecaster(
        synthetic_panel(2, 260, seed=4),
        out,
        base=ForecastConfig(window=10, hidden=8, epochs=2, patience=2),
        n_trials=3,
        progress=False,
    )
    loaded = load_page(out / "tuning_report.html")
    assert loaded.errors == [] and loaded.outside_requests == []
    images = [c for c in loaded.charts if c["kind"] == "img"]
    assert len(images) >= 2 and loaded.blank_charts == [], loaded.charts  # history and intermediate values
