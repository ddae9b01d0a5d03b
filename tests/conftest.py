"""Shared fixtures and helpers: data the tests generate, written in each supported layout; the tables of an HTML
page; and, in CI (``QTRADE_CI=1``, set by ``.ci/run``), every skip turned into a failure that names what was missing,
so that a check that could not run (no chromium, no PostgreSQL server) never passes silently. On a developer's
machine such tests still skip, saying why."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from html.parser import HTMLParser

os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.market.synthetic import synthetic_panel

IN_CI = os.environ.get("QTRADE_CI") == "1"


def _skip_reason(longrepr: object) -> str:
    return longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run (QTRADE_CI=1): {_skip_reason(report.longrepr)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run (QTRADE_CI=1): {_skip_reason(report.longrepr)}"


@pytest.fixture
def panel() -> pd.DataFrame:
    return synthetic_panel(3, 300, seed=7)


@pytest.fixture
def yahoo_csv(tmp_path: Path) -> Path:
    """One ticker in Yahoo's classic layout, with an Adj Close that halves the early prices."""
    p = synthetic_panel(1, 60, seed=1).xs("T0000", level="ticker")
    adj = p["close"].copy()
    adj.iloc[:30] = adj.iloc[:30] * 0.5
    frame = pd.DataFrame(
        {
            "Date": p.index.strftime("%Y-%m-%d"),
            "Open": p["open"].to_numpy(),
            "High": p["high"].to_numpy(),
            "Low": p["low"].to_numpy(),
            "Close": p["close"].to_numpy(),
            "Adj Close": adj.to_numpy(),
            "Volume": p["volume"].to_numpy(),
        }
    )
    path = tmp_path / "ACME.csv"
    frame.to_csv(path, index=False)
    return path


def write_yahoo_multiheader(path: Path, p: pd.DataFrame, ticker: str) -> None:
    """The newer yfinance layout: rows Price / Ticker / Date, then data, no Adj Close."""
    cols = ["Close", "High", "Low", "Open", "Volume"]
    lines = ["Price," + ",".join(cols), "Ticker," + ",".join([ticker] * len(cols)), "Date" + "," * len(cols)]
    for d, row in p.iterrows():
        lines.append(f"{d:%Y-%m-%d}," + ",".join(repr(float(row[c.lower()])) for c in cols))
    path.write_text("\n".join(lines) + "\n")


def assert_close_panels(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == ["open", "high", "low", "close", "volume"]
    assert a.index.names == ["date", "ticker"]
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-9)
    assert (a.index == b.index).all()


class _Tables(HTMLParser):
    """Every table of a page: rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._row: list[str] | None = None
        self._cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self._row = []
            self.tables[-1].append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._row.append("")
            self._cell = True

    def handle_data(self, data: str) -> None:
        if self._cell and self._row is not None:
            self._row[-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None:
            self._row[-1] = " ".join(self._row[-1].split())
            self._cell = False
        elif tag in ("tr", "table"):
            self._row, self._cell = None, False


def page_tables(page: str) -> list[list[list[str]]]:
    """Every table of an HTML page: rows of cell texts, whitespace collapsed."""
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def table_with(page: str, header: list[str]) -> list[list[str]]:
    """The rows (header left out) of the one table of ``page`` whose first row is ``header``."""
    found = [t for t in page_tables(page) if t and t[0] == header]
    assert len(found) == 1, f"{len(found)} tables headed {header}"
    return found[0][1:]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL server on loopback; the test skips, saying why, when none can be started."""
    pytest.importorskip("psycopg", reason="the PostgreSQL driver is not installed: pip install qtrade[postgres]")
    initdb = shutil.which("initdb") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
    if initdb is None:
        pytest.skip("no PostgreSQL server binaries (initdb); .ci/run installs Debian's postgresql package")
    bindir = Path(initdb).resolve().parent
    root = Path(tempfile.mkdtemp(prefix="qtrade-pg-"))  # outside pytest's root-only folders
    pgdata = root / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
        os.chmod(root, 0o700)
    port = _free_port()
    init = subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(pgdata), "-U", "postgres", "-A", "trust"],
        capture_output=True,
        text=True,
    )
    if init.returncode != 0:
        pytest.skip(f"initdb failed: {init.stderr.strip().splitlines()[-1:]}")
    start = subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(pgdata),
            "-l",
            str(root / "log"),
            "-w",
            "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1",
            "start",
        ],
        capture_output=True,
        text=True,
    )
    if start.returncode != 0:
        pytest.skip(f"PostgreSQL did not start: {start.stderr.strip()[-200:]}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(pgdata), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)
