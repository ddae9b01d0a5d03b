"""Hostile input: whatever a file holds, the loaders load it correctly or fail with qtrade's own one-line error."""

from __future__ import annotations

import csv
import io
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from forecasting.errors import QtradeError
from forecasting.market.loaders import COLUMNS, load_market_data
from qtrade.cli import app

HEADERS = ["date", "ticker", "open", "high", "low", "close", "volume", "adj close", "extra"]
CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["", " ", "abc", "1e400", "-5", "0", "nan", "NULL", "1,5", "TRUE", "\u00e9t\u00e9", "\x00"]),
    st.sampled_from(
        [
            "2020-01-02",
            "20200103",
            "2020/01/06",
            "01/07/2020",
            "2020-13-45",
            "not a date",
            "2020-01-02T10:00:00+09:00",
            "1999-12-31",
            "2020-01-02",
        ]
    ),
)


def _case(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.upper(), name.title(), f" {name} "])


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    cols = draw(st.lists(st.sampled_from(HEADERS), min_size=1, max_size=9, unique=True))
    header = [draw(_case(c)) for c in cols]
    rows = draw(st.lists(st.lists(CELLS, min_size=len(cols), max_size=len(cols)), max_size=12))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    text = buf.getvalue()
    if draw(st.booleans()):
        return text.encode("utf-8")
    return text.encode("latin-1", errors="replace") + draw(st.binary(max_size=20))


def _check(panel: pd.DataFrame) -> None:
    assert list(panel.index.names) == ["date", "ticker"]
    assert list(panel.columns) == list(COLUMNS)
    assert all(panel[c].dtype == np.float64 for c in COLUMNS)
    assert panel.index.is_unique and panel.index.is_monotonic_increasing


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_files())
def test_any_csv_loads_or_fails_with_a_qtrade_error(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prices.csv"
        path.write_bytes(content)
        try:
            panel = load_market_data(path)
        except QtradeError as exc:
            message = str(exc)
            assert message and "\n" not in message
            assert "prices.csv" in message  # names the file
            return
        _check(panel)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_load_or_fail_cleanly(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "noise.csv"
        path.write_bytes(content)
        try:
            _check(load_market_data(path))
        except QtradeError as exc:
            assert "\n" not in str(exc)


@settings(max_examples=25, deadline=None)
@given(csv_files())
def test_the_command_line_answers_0_or_1_and_never_a_traceback(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prices.csv"
        path.write_bytes(content)
        res = CliRunner().invoke(app, ["data", str(path)])
        assert res.exit_code in (0, 1), res.output
        assert "Traceback" not in res.output
        if res.exit_code == 1:
            assert len(res.output.strip().splitlines()) == 1


def test_unsorted_duplicated_and_mixed_dates() -> None:
    rows = [
        ("2020-01-03", "A", 1, 2, 0.5, 1.5, 100),
        ("2020-01-02", "A", 1, 2, 0.5, 1.5, 100),
        ("2020-01-06", "A", 1, 2, 0.5, 1.5, 0),
        ("2020-01-07", "A", 1, 2, 0.5, 1.5, 1e15),
    ]
    columns = ["date", "ticker", "open", "high", "low", "close", "volume"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.csv"
        pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
        panel = load_market_data(path)
        _check(panel)
        assert panel.index.get_level_values("date").tolist() == list(
            pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"])
        )
        mixed = Path(tmp) / "m.csv"  # one format per column: ISO beside YYYYMMDD is refused, not guessed per cell
        pd.DataFrame([("20200102", *rows[1][1:]), *rows[:1], *rows[2:]], columns=columns).to_csv(mixed, index=False)
        try:
            load_market_data(mixed)
            raise AssertionError("mixed date formats were accepted")
        except QtradeError as exc:
            assert "m.csv" in str(exc) and "one date format" in str(exc)
        dup = Path(tmp) / "d.csv"
        pd.DataFrame([*rows, rows[0]], columns=columns).to_csv(dup, index=False)
        try:
            load_market_data(dup)
        except QtradeError as exc:
            assert "d.csv" in str(exc)


VENDOR_CELLS = st.one_of(
    st.sampled_from(["", "1", "2.5", "-1", "abc", "nan", "20200102", "2020-01-02", "Date", "AAPL", "Close", "D", "W"]),
    st.floats(allow_nan=True).map(repr),
)
HEADS = [["Price", "Ticker", "Date"], ["Ticker", "Price", "Date"], ["", "", "Date"], ["Price", "Ticker", ""]]
STOOQ = ["<TICKER>", "<PER>", "<DATE>", "<TIME>", "<OPEN>", "<HIGH>", "<LOW>", "<CLOSE>", "<VOL>", "<OPENINT>"]


@st.composite
def vendor_files(draw: st.DrawFn) -> str:
    """Broken files in the yfinance download and stooq layouts: headers cut short, cells of any kind."""
    if draw(st.booleans()):
        rows = [STOOQ[: draw(st.integers(1, len(STOOQ)))]]
    else:
        first = draw(st.sampled_from(HEADS))
        n = draw(st.integers(1, 8))
        fields = ["Close", "High", "Low", "Open", "Volume", "Adj Close", "Other"]
        rows = [
            [first[0], *[draw(st.sampled_from(fields)) for _ in range(n)]],
            [first[1], *[draw(st.sampled_from(["AAPL", "MSFT", ""])) for _ in range(n)]],
            [first[2], *[""] * n],
        ]
    width = len(rows[0])
    for _ in range(draw(st.integers(0, 6))):
        rows.append([draw(VENDOR_CELLS) for _ in range(draw(st.sampled_from([width, width, width - 1, width + 1])))])
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vendor_files(), st.booleans())
def test_broken_vendor_files_and_folders_load_or_fail_with_a_qtrade_error(text: str, as_folder: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "aapl.us.txt"
        path.write_text(text)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # an empty file in a folder is skipped with a warning
                _check(load_market_data(Path(tmp) if as_folder else path))
        except QtradeError as exc:
            assert "\n" not in str(exc) and tmp in str(exc)
