"""Market data in, one canonical panel out.

The canonical panel is a DataFrame indexed by ``(date, ticker)``, sorted, with float columns
``open, high, low, close, volume``; prices are adjusted for splits (and, where the source says so,
dividends). Every reader below ends in :func:`validate_panel`, so bad input fails here, at the boundary,
with a one-line :class:`~forecasting.errors.DataError` that names the file, the problem and the fix.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
import warnings
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.errors import DataError
from forecasting.market.calendars import CALENDAR_ATTR

__all__ = [
    "DEFAULT_DATASET",
    "JPX_CALENDAR",
    "PRICE_COLUMNS",
    "RANGE_TOLERANCE",
    "jpx_factor_convention",
    "load_default",
    "load_market_data",
    "read_folder",
    "read_jpx",
    "read_panel",
    "read_stooq",
    "read_yahoo_csv",
    "read_yfinance_csv",
    "ticker_from_filename",
    "validate_panel",
]

PRICE_COLUMNS = ("open", "high", "low", "close")
COLUMNS = (*PRICE_COLUMNS, "volume")
DEFAULT_DATASET = "us_tech_daily.csv.gz"
JPX_CALENDAR = "XTKS"
"""The exchange calendar ``--calendar auto`` gives a JPX competition folder (the Tokyo Stock Exchange)."""
RANGE_TOLERANCE = 1e-5
"""How far (relative) an open or close may lie outside the day's [low, high] before the row is refused.

One in 100,000: above the rounding of vendors that print six significant digits (stooq, up to 5e-6) or store
float32 (6e-8), and ten times below a cent on a $100 stock, so that a wrong price is never let through as a
rounding error.
"""
_TICKER_ALIASES = ("ticker", "symbol", "code", "securitiescode")
_DATE_ALIASES = ("date", "datetime", "timestamp")
_ADJ_ALIASES = ("adjclose", "adjustedclose")  # Yahoo's Adj Close, Alpha Vantage's adjusted_close
_YF_FIELDS = frozenset(
    {"open", "high", "low", "close", "adjclose", "volume", "dividends", "stocksplits", "capitalgains", "repaired"}
)
_FOLDER_SUFFIXES = (".csv", ".txt")


def load_default() -> pd.DataFrame:
    """The embedded default panel: AAPL, GOOG, IBM, MSFT daily prices, 2000-2013, split-adjusted.

    Public-domain Quandl WIKI prices, as shipped by the ``bokeh_sampledata`` package; OHLC are scaled by
    ``adj_close / close`` and volume by its inverse.

    Examples
    --------
    >>> panel = load_default()
    >>> sorted(panel.index.get_level_values("ticker").unique())
    ['AAPL', 'GOOG', 'IBM', 'MSFT']
    """
    ref = resources.files("forecasting.market.datasets").joinpath(DEFAULT_DATASET)
    with resources.as_file(ref) as path:
        return read_panel(path, source=f"embedded {DEFAULT_DATASET}")


def load_market_data(
    path: str | os.PathLike[str] | None = None, *, tickers: Sequence[str] | None = None, date_format: str | None = None
) -> pd.DataFrame:
    """Load any supported layout into the canonical panel; ``None`` gives the embedded default.

    Parameters
    ----------
    path
        A Yahoo-style single-ticker CSV (also Alpha Vantage's, with ``timestamp``), a yfinance multi-ticker
        download saved with ``to_csv()``, a stooq file, a long panel (CSV or Parquet), a JPX
        ``stock_prices.csv``, a folder of the JPX competition (``train_files/`` and ``supplemental_files/``), a
        folder of per-ticker files (Kaggle's Huge Stock Market Dataset, stooq's bulk download; see
        :func:`read_folder`), or ``None``.
    tickers
        Keep only these tickers (as strings); an unknown one is an error. In a folder of per-ticker files only
        their files are read.
    date_format
        A strptime format for the file's dates (``"%d/%m/%Y"``); when left out, one format is inferred per
        file (see :func:`read_panel`) and a column that fits both day-first and month-first is refused.
        Ignored for the embedded data and for dates stored as dates (Parquet).

    Examples
    --------
    >>> panel = load_market_data(tickers=["IBM"])
    >>> list(panel.columns)
    ['open', 'high', 'low', 'close', 'volume']
    """
    if path is None:
        panel = load_default()
        source = "embedded data"
    else:
        p = Path(path)
        source = str(p)
        if not p.exists():
            raise DataError(f"{p}: no such file or folder; check the path")
        if p.is_dir() and _jpx_files(p):
            panel = read_jpx(p, date_format=date_format)
        elif p.is_dir():
            panel = read_folder(p, tickers=tickers, date_format=date_format)
        elif p.suffix.lower() in (".parquet", ".pq"):
            panel = read_panel(p, date_format=date_format)
        else:
            panel = _read_csv_any(p, date_format=date_format)
    if tickers:
        wanted = [str(t) for t in tickers]
        have = set(panel.index.get_level_values("ticker"))
        missing = [t for t in wanted if t not in have]
        if missing:
            sample = ", ".join(sorted(have)[:8])
            raise DataError(f"{source}: no ticker {', '.join(missing)}; choose from {sample}")
        panel = panel[panel.index.get_level_values("ticker").isin(wanted)]
    return panel


def _read_csv_any(path: Path, *, date_format: str | None = None, ticker: str | None = None) -> pd.DataFrame:
    """A CSV (or stooq ``.txt``) in whichever layout its first rows show; ``ticker`` names a one-ticker file."""
    head = _head_rows(path, 3)
    if not head or not any(cell.strip() for cell in head[0]):
        raise DataError(f"{path}: the file is empty; give a CSV with a header and at least one row")
    first = [c.strip().lower() for c in head[0]]
    if "securitiescode" in first:
        return read_jpx(path, date_format=date_format)
    if first[0] == "<ticker>":
        return read_stooq(path, ticker=ticker, date_format=date_format)
    if _two_level_header(head) is not None:  # a yfinance download; read_yahoo_csv names a one-ticker file
        return read_yahoo_csv(path, ticker, date_format=date_format)
    if any(c in _TICKER_ALIASES for c in first):
        return read_panel(path, date_format=date_format)
    return read_yahoo_csv(path, ticker, date_format=date_format)


def ticker_from_filename(name: str) -> str:
    """The ticker a per-ticker file's name gives: the name without ``.csv`` / ``.txt``.

    A name in lower case, as Kaggle's and stooq's are, loses stooq's market suffix (``.us``; ``_us_d`` and ``_d``
    of stooq's single downloads) and is upper-cased; any other name is kept as written.

    Examples
    --------
    >>> [ticker_from_filename(n) for n in ("aapl.us.txt", "brk-b.us.txt", "^spx_d.csv", "7203.T.csv", "ACME.csv")]
    ['AAPL', 'BRK-B', '^SPX', '7203.T', 'ACME']
    """
    stem = re.sub(r"\.(csv|txt)$", "", name.strip(), flags=re.IGNORECASE)
    if stem != stem.lower():
        return stem
    plain = re.fullmatch(r"(.+?)(?:\.[a-z]{2}|_[a-z]{2}_d|_d)", stem)
    return (plain.group(1) if plain else stem).upper()


def _stooq_symbol(symbol: str) -> str:
    """stooq's ``<TICKER>`` without its market suffix: ``AAPL.US`` -> ``AAPL``; ``^SPX`` and ``EURUSD`` as they are."""
    return re.sub(r"\.[A-Za-z]{2}$", "", symbol.strip())


def _two_level_header(head: list[list[str]]) -> str | None:
    """``"price-first"`` or ``"ticker-first"`` for yfinance's header of two rows and a ``Date`` row, else None.

    yfinance names the rows ``Price`` and ``Ticker`` (recent versions); earlier versions left both first cells
    blank, and the row of field names (Open, Close, ...) tells which is which.
    """
    if len(head) < 3 or len(head[0]) < 2 or len(head[1]) != len(head[0]):
        return None
    top, second, third = ([cell.strip() for cell in row] for row in head[:3])
    if not third or third[0].lower() not in ("date", "datetime") or any(third[1:]):
        return None
    labels = (top[0].lower(), second[0].lower())
    if labels == ("price", "ticker"):
        return "price-first"
    if labels == ("ticker", "price"):
        return "ticker-first"
    if labels == ("", ""):
        for name, row in (("price-first", top), ("ticker-first", second)):
            if all(_norm(c) in _YF_FIELDS for c in row[1:]):
                return name
    return None


def _head_rows(path: Path, n: int) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            return list(itertools.islice(reader, n))
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text; save the file as UTF-8 CSV") from None
    except csv.Error as exc:
        raise DataError(f"{path}: not a readable CSV ({exc}); check the delimiter and quoting") from None


def _read_csv(path: Path, **kwargs: object) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path, encoding="utf-8-sig", **kwargs)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; give a CSV with a header and at least one row") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text; save the file as UTF-8 CSV") from None
    except (pd.errors.ParserError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        raise DataError(f"{path}: not a readable CSV ({first}); check the delimiter and quoting") from None
    _check_separator(path, raw)
    return raw


_SEPARATORS = {";": "';'", "\t": "tabs", "|": "'|'"}
_DECIMAL_COMMA = re.compile(r"[-+]?\d[\d.]*,\d+")
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def _check_separator(path: Path, raw: pd.DataFrame) -> None:
    """Refuse a file whose columns are separated by something other than commas, naming it.

    Such a file (a spreadsheet's CSV in a European locale: ``Date;Open;...`` and ``101,5``) is not read with
    its separator guessed: whether ``1.234`` is a thousand or a decimal cannot be told for sure.
    """
    for sep, name in _SEPARATORS.items():
        if any(str(c).count(sep) >= 2 for c in raw.columns):
            try:
                cells = pd.read_csv(path, sep=sep, header=None, nrows=5, dtype=str, encoding="utf-8-sig")
            except (pd.errors.ParserError, ValueError, UnicodeDecodeError):
                cells = pd.DataFrame()
            text = pd.Series(cells.iloc[1:].to_numpy().ravel(), dtype=object).dropna().astype(str).str.strip()
            commas = text[text.str.fullmatch(_DECIMAL_COMMA)]
            decimals = f" and decimals written with a comma (such as {commas.iloc[0]!r})" if len(commas) else ""
            raise DataError(
                f"{path}: the columns are separated by {name}{decimals}; save it as a comma-separated CSV with "
                "'.' as the decimal point (a spreadsheet's CSV export in an English locale writes one)"
            )


def read_yahoo_csv(
    path: str | os.PathLike[str], ticker: str | None = None, *, date_format: str | None = None
) -> pd.DataFrame:
    """A single-ticker CSV in Yahoo's layout: Date, Open, High, Low, Close, [Adj Close,] Volume.

    Alpha Vantage's daily CSV (``timestamp, open, high, low, close, [adjusted_close,] volume``, newest row
    first) and the files of Kaggle's Huge Stock Market Dataset (``Date, ..., Volume, OpenInt``) are this layout.
    Reads yfinance's three-row header (``Price`` / ``Ticker`` / ``Date``) too, taking the ticker from it (see
    :func:`read_yfinance_csv`). With ``Adj Close`` (or ``adjusted_close``), OHLC are multiplied by
    ``Adj Close / Close`` and volume divided by it. The ticker defaults to :func:`ticker_from_filename` of the
    file's name. Dates are read as in :func:`read_panel`.
    """
    p = Path(path)
    head = _head_rows(p, 3)
    if not head:
        raise DataError(f"{p}: the file is empty; give a CSV with a header and at least one row")
    if _two_level_header(head) is not None:
        panel = read_yfinance_csv(p, date_format=date_format)
        names = panel.index.get_level_values("ticker").unique()
        if ticker is not None and len(names) == 1:
            panel = panel.rename(index={names[0]: ticker}, level="ticker")
        return panel
    raw = _read_csv(p)
    ticker = ticker or ticker_from_filename(p.name)
    cols = {_norm(c): c for c in raw.columns}
    date_col = next((cols[a] for a in _DATE_ALIASES if a in cols), None)
    _require(p, cols, COLUMNS, extra={"date": date_col})
    frame = pd.DataFrame({k: raw[cols[k]] for k in COLUMNS})
    frame.insert(0, "date", raw[date_col])
    frame["ticker"] = ticker
    adj = next((cols[a] for a in _ADJ_ALIASES if a in cols), None)
    if adj is not None:
        frame["adj_close"] = raw[adj]
    return _finish(p, frame, date_format=date_format)


def read_yfinance_csv(path: str | os.PathLike[str], *, date_format: str | None = None) -> pd.DataFrame:
    """A yfinance download saved with ``to_csv()``: one column per (field, ticker) under two header rows.

    ``yf.download(["AAPL", "MSFT"])`` writes the rows ``Price`` (Close, Close, High, High, ...), ``Ticker``
    (AAPL, MSFT, AAPL, MSFT, ...) and ``Date``; with ``group_by="ticker"`` the first two rows are swapped;
    earlier versions left their first cells blank. A single ticker's download has the same rows. Each
    ticker needs Open, High, Low, Close and Volume; an ``Adj Close`` (``auto_adjust=False``) adjusts them as
    in :func:`read_yahoo_csv`. A ticker's rows with every field blank (before its listing) are not rows of it;
    a ticker with no value at all (a failed download) is left out with a warning.
    """
    p = Path(path)
    head = _head_rows(p, 3)
    order = _two_level_header(head)
    if order is None:
        raise DataError(f"{p}: not a yfinance download (header rows Price, Ticker and Date); see README 'Data formats'")
    fields, names = (head[0], head[1]) if order == "price-first" else (head[1], head[0])
    raw = _read_csv(p, skiprows=3, header=None)
    if raw.shape[1] != len(fields):
        raise DataError(
            f"{p}: {raw.shape[1]} columns in the rows but {len(fields)} in the header; check the delimiter and quoting"
        )
    by_ticker: dict[str, dict[str, int]] = {}
    for i, (field_name, ticker) in enumerate(zip(fields[1:], names[1:], strict=True), start=1):
        by_ticker.setdefault(ticker.strip(), {})[_norm(field_name)] = i
    parts, failed = [], []
    for ticker, cols in by_ticker.items():
        missing = [c for c in COLUMNS if c not in cols]
        if missing:
            raise DataError(
                f"{p}: ticker {ticker} has no {', '.join(missing)} column(s); download every field "
                "(Open, High, Low, Close, Volume) or see README 'Data formats'"
            )
        part = pd.DataFrame({"date": raw[0], "ticker": ticker, **{c: raw[cols[c]] for c in COLUMNS}})
        adj = next((cols[a] for a in _ADJ_ALIASES if a in cols), None)
        if adj is not None:
            part["adj_close"] = raw[adj]
        listed = part[list(COLUMNS)].notna().any(axis=1)  # all blank: before the listing, or a failed download
        if not listed.any():
            failed.append(ticker)
        parts.append(part[listed])
    if failed:
        warnings.warn(f"{p}: no prices for {', '.join(failed)} (a failed download?); left out", stacklevel=2)
    return _finish(p, pd.concat(parts, ignore_index=True), date_format=date_format)


def read_stooq(
    path: str | os.PathLike[str], *, ticker: str | None = None, date_format: str | None = None
) -> pd.DataFrame:
    """A stooq file: ``<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>``.

    The bulk download's ``.txt`` files (one per ticker) and its daily update files (many tickers) have this
    layout. Only daily bars (``<PER>`` D) are read; ``<DATE>`` is ``YYYYMMDD``, ``<TIME>`` and ``<OPENINT>``
    are not used. The ticker is ``<TICKER>`` without stooq's market suffix (``AAPL.US`` -> ``AAPL``), or
    ``ticker`` for a file of one ticker.
    """
    p = Path(path)
    raw = _read_csv(p, dtype={"<TICKER>": str, "<PER>": str})
    cols = {_norm(c): c for c in raw.columns}
    _require(p, cols, ("ticker", "per", "date", *PRICE_COLUMNS, "vol"))
    period = raw[cols["per"]].astype(str).str.strip()
    other = period[period.str.upper() != "D"]
    if len(other):
        raise DataError(
            f"{p}: bars of period {other.iloc[0]!r} (<PER>); qtrade reads daily bars (<PER> D): "
            "take stooq's daily files"
        )
    symbols = raw[cols["ticker"]].astype(str).map(_stooq_symbol)
    if ticker is not None and symbols.nunique() <= 1:
        symbols = pd.Series(ticker, index=raw.index)
    frame = pd.DataFrame(
        {
            "date": raw[cols["date"]],
            "ticker": symbols,
            **{c: raw[cols[c]] for c in PRICE_COLUMNS},
            "volume": raw[cols["vol"]],
        }
    )
    return _finish(p, frame, date_format=date_format)


def read_folder(
    path: str | os.PathLike[str], *, tickers: Sequence[str] | None = None, date_format: str | None = None
) -> pd.DataFrame:
    """A folder of per-ticker files, searched with its subfolders for ``.csv`` and ``.txt`` files.

    Kaggle's Huge Stock Market Dataset (``Stocks/aapl.us.txt``, ``ETFs/spy.us.txt``), stooq's bulk download
    (``data/daily/us/nasdaq stocks/1/aapl.us.txt``) or any folder of files in a layout
    :func:`load_market_data` reads. Each file's ticker is :func:`ticker_from_filename` of its name
    (``brk-b.us.txt`` -> ``BRK-B``); two files of one ticker are refused, naming both. With ``tickers`` only
    their files are read. Empty files (the Kaggle set has some) are skipped with a warning.
    """
    p = Path(path)
    files = sorted(
        f
        for f in p.rglob("*")
        if f.suffix.lower() in _FOLDER_SUFFIXES
        and f.is_file()
        and not any(part.startswith(".") for part in f.relative_to(p).parts)
    )
    if not files:
        raise DataError(
            f"{p}: no price files in it (.csv or .txt, one per ticker, as Kaggle's and stooq's) and "
            "no stock_prices.csv of the JPX competition; point at such a folder or at one file"
        )
    by_ticker: dict[str, Path] = {}
    for f in files:
        name = ticker_from_filename(f.name)
        if name in by_ticker:
            raise DataError(
                f"{p}: {by_ticker[name].relative_to(p)} and {f.relative_to(p)} are both ticker {name}; "
                "point at a folder that holds each ticker once"
            )
        by_ticker[name] = f
    if tickers:
        missing = [str(t) for t in tickers if str(t) not in by_ticker]
        if missing:
            sample = ", ".join(sorted(by_ticker)[:8])
            raise DataError(f"{p}: no file of ticker {', '.join(missing)}; choose from {sample}")
        by_ticker = {str(t): by_ticker[str(t)] for t in tickers}
    parts, empty = [], []
    for name, f in by_ticker.items():
        head = _head_rows(f, 2)
        if len(head) < 2 or not any(cell.strip() for cell in head[1]):
            empty.append(f.name)
            continue
        parts.append(_read_csv_any(f, date_format=date_format, ticker=name))
    if empty:
        listed = ", ".join(empty[:5]) + (" ..." if len(empty) > 5 else "")
        warnings.warn(f"{p}: {len(empty)} empty file(s) skipped ({listed})", stacklevel=2)
    if not parts:
        raise DataError(f"{p}: every price file in it is empty; point at a folder with prices")
    return validate_panel(pd.concat(parts).sort_index(), source=str(p))


def read_panel(
    path: str | os.PathLike[str], *, source: str | None = None, date_format: str | None = None
) -> pd.DataFrame:
    """A long panel (date, ticker, open, high, low, close, volume) from CSV or Parquet.

    Column names match case-insensitively (``Symbol`` or ``Code`` stand for the ticker). The date column has
    one format, ``date_format`` (a strptime format such as ``"%d/%m/%Y"``) when given, else inferred from all
    its values: ISO (``2024-01-31``, an optional time and UTC offset dropped, keeping the date as written),
    ``YYYYMMDD``, or ``31/01/2024`` / ``01/31/2024`` (``/``, ``-`` or ``.``) when some first field is above 12
    (day-first) or some second field is (month-first); a column that fits both is refused. An ``adj_close``
    column, if present, adjusts OHLC as for Yahoo files. A ``spread`` column, if present, is kept: the bid-ask
    spread as a share of the price (0.0004 = 4 bp), which the backtest charges half of on each fill.
    """
    p = Path(path)
    if p.suffix.lower() in (".parquet", ".pq"):
        try:
            raw = pd.read_parquet(p)
        except Exception as exc:  # pyarrow raises many types; all mean "not a Parquet file we can read"
            raise DataError(f"{p}: not a readable Parquet file ({type(exc).__name__}); check the file") from None
        if raw.empty:
            raise DataError(f"{p}: the file has no rows; give a panel with at least one row")
    else:
        raw = _read_csv(p)
    cols = {_norm(c): c for c in raw.columns}
    date_col = next((cols[a] for a in _DATE_ALIASES if a in cols), None)
    ticker_col = next((cols[a] for a in _TICKER_ALIASES if a in cols), None)
    _require(p, cols, COLUMNS, extra={"date": date_col, "ticker": ticker_col})
    frame = pd.DataFrame({k: raw[cols[k]] for k in COLUMNS})
    frame.insert(0, "date", raw[date_col])
    frame.insert(1, "ticker", raw[ticker_col].astype(str))
    adj = next((cols[a] for a in _ADJ_ALIASES if a in cols), None)
    if adj is not None:
        frame["adj_close"] = raw[adj]
    if "spread" in cols:
        frame["spread"] = raw[cols["spread"]]
    return _finish(p, frame, source=source, date_format=date_format)


def read_jpx(path: str | os.PathLike[str], *, date_format: str | None = None) -> pd.DataFrame:
    """The Tokyo Stock Exchange files of the JPX prediction competition.

    ``path`` is a ``stock_prices.csv`` (or ``secondary_stock_prices.csv``) or a folder holding
    ``train_files/`` and ``supplemental_files/``, whose price files are stacked, a later file winning on
    an overlapping (date, code). ``SecuritiesCode`` becomes the ticker. A folder's panel records the Tokyo
    Stock Exchange calendar (:data:`JPX_CALENDAR`) in ``attrs["calendar"]``, which ``--calendar auto`` follows;
    a single file does not, as it may hold anything in this layout (pass ``--calendar XTKS``).

    Prices are split-adjusted: each stock sorted by date descending, OHLC multiplied by the cumulative product
    of the factors on and after each row and volume divided by it. Sources put ``AdjustmentFactor`` (0.5 for a
    2-for-1 split) on different rows: the competition's files on the last day before the split, J-Quants on the
    split (ex-rights) day itself. The file decides (see :func:`jpx_factor_convention`); for the split-day
    convention each factor is moved one row earlier before the product. A factor whose price jump shows on
    neither row, or only on the row the file's other factors do not use, is refused with its code and date.
    """
    p = Path(path)
    if p.is_dir():
        files = _jpx_files(p)
        if not files:
            raise DataError(
                f"{p}: no stock_prices.csv in it or in train_files/ or supplemental_files/; "
                "point at the competition's folder or at a stock_prices.csv"
            )
    else:
        files = [p]
    parts = []
    for f in files:
        raw = _read_csv(f, dtype={"SecuritiesCode": str})
        cols = {_norm(c): c for c in raw.columns}
        _require(f, cols, ("date", "securitiescode", *COLUMNS, "adjustmentfactor"))
        parts.append(raw.rename(columns={v: k for k, v in cols.items()}))
    raw = pd.concat(parts, ignore_index=True)
    raw["date"] = _parse_dates(p, raw["date"], date_format)
    raw = raw.drop_duplicates(["date", "securitiescode"], keep="last")
    raw = raw.sort_values(["securitiescode", "date"], ascending=[True, True], ignore_index=True)
    factor = pd.to_numeric(raw["adjustmentfactor"], errors="coerce").fillna(1.0)
    if (factor <= 0).any():
        raise DataError(f"{p}: AdjustmentFactor must be positive; fix or drop the rows with factor <= 0")
    code = raw["securitiescode"].astype(str).str.strip()
    prices = {c: _numeric(p, raw[c], c) for c in COLUMNS}
    convention = jpx_factor_convention(code, raw["date"], prices["close"], factor, source=str(p))
    if convention == "split-day":  # the factor belongs to the last row before the split day
        factor = factor.groupby(code, sort=False).shift(-1).fillna(1.0)
    # product of the factors from each row to the stock's last row, the row's own included
    cumulative = factor[::-1].groupby(code[::-1], sort=False).cumprod()[::-1]
    frame = pd.DataFrame({"date": raw["date"], "ticker": code})
    for c in PRICE_COLUMNS:
        frame[c] = prices[c] * cumulative
    frame["volume"] = prices["volume"] / cumulative
    panel = _finish(p, frame)
    if p.is_dir():  # the competition's folder is the Tokyo Stock Exchange's: --calendar auto uses XTKS
        panel.attrs[CALENDAR_ATTR] = JPX_CALENDAR
    return panel


def _jpx_files(folder: Path) -> list[Path]:
    """The competition's price files in ``folder``: train_files/, then supplemental_files/, then its own."""
    subfolders = ("train_files", "supplemental_files", ".")
    return [f for sub in subfolders for f in sorted((folder / sub).glob("stock_prices.csv"))]


def jpx_factor_convention(
    code: pd.Series, date: pd.Series, close: pd.Series, factor: pd.Series, *, source: str = "data"
) -> str:
    """Which row a file's ``AdjustmentFactor`` sits on: ``"day-before"`` or ``"split-day"``.

    A split with factor ``f`` (0.5 for 2-for-1) makes the raw close jump by ``f`` from the last day before it
    to the split day. For each row with ``f != 1`` the raw jump onto that row (``close[t] / close[t-1]``) and
    off it (``close[t+1] / close[t]``, the nearest real closes of the same stock) are compared with ``f``; a
    jump matches when ``|log jump - log f| < 0.5 |log f|``. A match off the row votes ``"day-before"`` (the
    competition's files), a match onto it ``"split-day"`` (J-Quants); the majority decides, a tie (or no
    factors) gives ``"day-before"``. Rows must be sorted by code, then date ascending.

    Raises
    ------
    DataError
        For the first factor whose jump neither row shows (both closes known), or that only the other
        convention's row shows, naming the code and date.

    Examples
    --------
    >>> code = pd.Series(["1301"] * 4)
    >>> date = pd.Series(pd.bdate_range("2021-01-04", periods=4))
    >>> close = pd.Series([100.0, 101.0, 50.0, 51.0])
    >>> jpx_factor_convention(code, date, close, pd.Series([1.0, 0.5, 1.0, 1.0]))
    'day-before'
    >>> jpx_factor_convention(code, date, close, pd.Series([1.0, 1.0, 0.5, 1.0]))
    'split-day'
    """
    factor = factor.astype("float64")
    marked = (factor != 1.0).to_numpy()
    if not marked.any():
        return "day-before"
    by = close.groupby(code, sort=False)
    before = by.ffill().groupby(code, sort=False).shift(1)  # the nearest real close before the row
    after = by.bfill().groupby(code, sort=False).shift(-1)  # and after it
    log_f = np.log(factor.to_numpy())
    tolerance = 0.5 * np.abs(log_f)
    with np.errstate(divide="ignore", invalid="ignore"):
        jump_on = np.log((close / before).to_numpy())
        jump_off = np.log((after / close).to_numpy())
    on = marked & (np.abs(jump_on - log_f) < tolerance)
    off = marked & (np.abs(jump_off - log_f) < tolerance)
    convention = "split-day" if int((on & ~off).sum()) > int((off & ~on).sum()) else "day-before"
    neither = marked & np.isfinite(jump_on) & np.isfinite(jump_off) & ~on & ~off
    wrong_row = (on & ~off) if convention == "day-before" else (off & ~on)
    for bad, why in (
        (neither, "shows on neither that day's close nor the next day's"),
        (wrong_row, f"shows on the other row than the file's other factors ({convention})"),
    ):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{source}: AdjustmentFactor {factor.iloc[i]:g} of {code.iloc[i]} on {date.iloc[i]:%Y-%m-%d} "
                f"{why}; fix or drop that factor"
            )
    return convention


def _norm(name: object) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def _require(
    path: Path, cols: dict[str, str], needed: Sequence[str], extra: dict[str, str | None] | None = None
) -> None:
    missing = [c for c in needed if c not in cols]
    missing += [k for k, v in (extra or {}).items() if v is None]
    if missing:
        have = ", ".join(map(str, cols.values())) or "none"
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)} (found: {have}); "
            "rename the columns or see README 'Data formats'"
        )


def _numeric(path: Path, values: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    out = pd.to_numeric(values, errors="coerce")
    bad = out.isna() & values.notna()
    if bad.any():  # only the cells that did not parse are looked at as text
        bad[bad] = values[bad].astype(str).str.strip() != ""
    if bad.any():
        example = values[bad].iloc[0]
        text = str(example).strip()
        if _THOUSANDS.fullmatch(text):
            raise DataError(
                f"{path}: column {name} has a comma in the number {example!r} (a thousands separator or "
                "a decimal comma); write numbers without thousands separators, with '.' as the decimal "
                "point (1234.5)"
            )
        if _DECIMAL_COMMA.fullmatch(text):
            raise DataError(
                f"{path}: column {name} writes decimals with a comma ({example!r}); save the file with "
                "'.' as the decimal point (101.5), as a spreadsheet's CSV export in an English locale does"
            )
        raise DataError(f"{path}: column {name} has a non-numeric value {example!r}; fix or blank that cell")
    return out.astype("float64")


_TIME = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_OFFSET = r"(?:\s*(?:Z|UTC|[+-]\d{2}:?\d{2}))?"
_ISO = re.compile(rf"(\d{{4}}-\d{{2}}-\d{{2}}){_TIME}{_OFFSET}")
_COMPACT = re.compile(r"\d{8}")
_DMY = re.compile(rf"(\d{{1,2}})([/.-])(\d{{1,2}})\2(\d{{4}}){_TIME}{_OFFSET}")
_DATE_HELP = "write dates as YYYY-MM-DD or YYYYMMDD, or pass --date-format (such as %d/%m/%Y)"


def _parse_dates(path: Path, values: pd.Series, date_format: str | None = None) -> pd.Series:
    """One date per row, midnight, no time zone; one format for the whole column, never guessed per cell.

    The format is ``date_format`` (a strptime format) when given, else inferred from the column: ISO
    (``YYYY-MM-DD``, with an optional time and UTC offset), ``YYYYMMDD``, or ``DD/MM/YYYY`` / ``MM/DD/YYYY``
    (``/``, ``-`` or ``.`` between the fields) when some first field is above 12 (day-first) or some second
    field is (month-first). A column where every value could be either is refused. A time zone is dropped,
    keeping the date as written (the exchange's local date), not the date in UTC.

    Examples
    --------
    >>> _parse_dates(Path("p.csv"), pd.Series(["04/01/1999", "13/01/1999"])).dt.strftime("%Y-%m-%d").tolist()
    ['1999-01-04', '1999-01-13']
    >>> _parse_dates(Path("p.csv"), pd.Series(["2020-03-06 00:00:00-05:00", "2020-03-09 00:00:00-04:00"])).tolist()
    [Timestamp('2020-03-06 00:00:00'), Timestamp('2020-03-09 00:00:00')]
    """
    if pd.api.types.is_datetime64_any_dtype(values) and not values.isna().any():
        parsed = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) is not None else values
        return parsed.dt.normalize().astype("datetime64[ns]")
    if values.isna().any() or (values.astype(str).str.strip() == "").any():
        raise DataError(f"{path}: some dates are blank; fill or drop those rows")
    full = values.astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
    text = pd.Series(pd.unique(full), dtype=object)  # each distinct value parsed once (JPX: 2M rows, 1,200 days)
    if date_format is not None:
        parsed = _strptime_column(path, text, date_format)
    else:
        parsed = _infer_and_parse(path, text)
    outside = parsed.isna() | (parsed < pd.Timestamp("1900-01-01")) | (parsed > pd.Timestamp("2200-01-01"))
    if outside.any():
        example = text[outside.to_numpy()].iloc[0]
        raise DataError(f"{path}: date {example!r} is not a day between 1900 and 2200; {_DATE_HELP}")
    days = pd.DatetimeIndex(parsed).normalize().to_numpy()[pd.Index(text).get_indexer(full)]
    return pd.Series(days, index=values.index).astype("datetime64[ns]")


def _strptime_column(path: Path, text: pd.Series, date_format: str) -> pd.Series:
    """Every value read with the user's ``date_format``; the wall-clock time kept where it has an offset."""
    try:
        parsed = pd.to_datetime(text, format=date_format)
    except (ValueError, TypeError, OverflowError):
        parsed = None
    if parsed is None or not pd.api.types.is_datetime64_any_dtype(parsed):
        # mixed UTC offsets (a daylight-saving change) give objects, or raise: read each value on its own
        out = []
        for t in text:
            try:
                out.append(datetime.strptime(t, date_format).replace(tzinfo=None))
            except (ValueError, TypeError):
                raise DataError(
                    f"{path}: date {t!r} does not match --date-format {date_format!r}; fix the value or the format"
                ) from None
        parsed = pd.Series(pd.to_datetime(out), index=text.index)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed


def _infer_and_parse(path: Path, text: pd.Series) -> pd.Series:
    """The column's one format, inferred from all its values; anything else is a one-line error."""
    if text.str.fullmatch(_COMPACT).all():
        return _to_datetime_or_fail(path, text, "%Y%m%d")
    iso = text.str.extract(f"^{_ISO.pattern}$", expand=False)
    if iso.notna().all():  # the date as written: any time and UTC offset after it are dropped
        return _to_datetime_or_fail(path, iso, "%Y-%m-%d", shown=text)
    dmy = text.str.extract(f"^{_DMY.pattern}$")
    if dmy.notna().all().all() and dmy[1].nunique() == 1:
        first, second = dmy[0].astype(int), dmy[2].astype(int)
        sep = dmy[1].iloc[0]
        if (first > 12).any() and (second > 12).any():
            example = text[(second > 12).to_numpy()].iloc[0]
            raise DataError(
                f"{path}: date {example!r} is month-first but others are day-first; use one date format in the column"
            )
        if not (first > 12).any() and not (second > 12).any():
            raise DataError(
                f"{path}: dates such as {text.iloc[0]!r} could be day-first or month-first; "
                f"pass --date-format %d{sep}%m{sep}%Y or %m{sep}%d{sep}%Y"
            )
        day, month = (first, second) if (first > 12).any() else (second, first)
        parts = pd.DataFrame({"year": dmy[3].astype(int), "month": month, "day": day})
        try:
            return pd.to_datetime(parts)
        except (ValueError, OverflowError):
            bad = pd.to_datetime(parts, errors="coerce").isna()
            raise DataError(f"{path}: cannot parse date {text[bad.to_numpy()].iloc[0]!r}; {_DATE_HELP}") from None
    known = (text.str.fullmatch(_COMPACT) | iso.notna() | dmy.notna().all(axis=1)).to_numpy()
    if known.all():
        raise DataError(
            f"{path}: the dates mix formats (such as {_first_of_other_kind(text)!r} and "
            f"{text.iloc[0]!r}); use one date format in the column"
        )
    raise DataError(f"{path}: cannot parse date {text[~known].iloc[0]!r}; {_DATE_HELP}")


def _first_of_other_kind(text: pd.Series) -> str:
    kind = text.str.replace(r"\d", "0", regex=True).str[:10]
    other = text[(kind != kind.iloc[0]).to_numpy()]
    return str(other.iloc[0] if len(other) else text.iloc[-1])


def _to_datetime_or_fail(path: Path, text: pd.Series, fmt: str, shown: pd.Series | None = None) -> pd.Series:
    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    if parsed.isna().any():
        example = (shown if shown is not None else text)[parsed.isna()].iloc[0]
        raise DataError(f"{path}: cannot parse date {example!r}; {_DATE_HELP}")
    return parsed


def _finish(
    path: Path, frame: pd.DataFrame, source: str | None = None, *, date_format: str | None = None
) -> pd.DataFrame:
    where = source or str(path)
    if frame.empty:
        raise DataError(f"{where}: the file has a header but no rows; give at least one row of prices")
    frame = frame.copy()
    frame["date"] = _parse_dates(Path(where), frame["date"], date_format)
    for c in COLUMNS:
        frame[c] = _numeric(Path(where), frame[c], c)
    if "spread" in frame:
        frame["spread"] = _numeric(Path(where), frame["spread"], "spread")
    if "adj_close" in frame:
        adj = _numeric(Path(where), frame.pop("adj_close"), "adj_close")
        factor = (adj / frame["close"]).where(adj.notna(), 1.0)
        for c in PRICE_COLUMNS:
            frame[c] = frame[c] * factor
        frame["volume"] = frame["volume"] / factor
    panel = frame.set_index(["date", "ticker"]).sort_index()
    return validate_panel(panel, source=where)


def validate_panel(panel: pd.DataFrame, *, source: str = "data") -> pd.DataFrame:
    """Check the canonical panel; return it, or raise a one-line :class:`DataError` naming the fix.

    Missing values (NaN) are allowed: they are gaps for :func:`forecasting.market.cleaning.clean_panel`.
    Real prices must be positive, with the high not below the low and the open and close within
    [low, high] up to :data:`RANGE_TOLERANCE` (a close of 1e9 against a high of 104 is a broken file, not a
    trading day).
    """
    if panel.empty:
        raise DataError(f"{source}: no rows; give at least one row of prices")
    missing = [c for c in COLUMNS if c not in panel.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}; see README 'Data formats'")
    dup = panel.index.duplicated()
    if dup.any():
        date, ticker = panel.index[dup][0]
        raise DataError(
            f"{source}: {int(dup.sum())} duplicated (date, ticker) row(s), first {ticker} on "
            f"{date:%Y-%m-%d}; keep one row per ticker and day"
        )
    values = panel[list(COLUMNS)].to_numpy(dtype="float64")
    if np.isinf(values).any():
        raise DataError(f"{source}: infinite values; replace them with blanks or real prices")
    prices = panel[list(PRICE_COLUMNS)]
    nonpos = (prices <= 0).any(axis=1)
    if nonpos.any():
        date, ticker = panel.index[nonpos.to_numpy()][0]
        raise DataError(
            f"{source}: non-positive price for {ticker} on {date:%Y-%m-%d} ({int(nonpos.sum())} row(s)); "
            "blank those cells to treat them as gaps, or fix them"
        )
    inverted = (panel["high"] < panel["low"]).to_numpy()
    if inverted.any():
        date, ticker = panel.index[inverted][0]
        raise DataError(
            f"{source}: high below low for {ticker} on {date:%Y-%m-%d} ({int(inverted.sum())} row(s)); "
            "check the column order or fix those rows"
        )
    _check_range(panel, source)
    if (panel["volume"] < 0).any():
        raise DataError(f"{source}: negative volume; fix or blank those cells")
    keep = list(COLUMNS)
    if "spread" in panel.columns:
        spread = panel["spread"].astype("float64")
        if ((spread < 0) | (spread >= 1) | np.isinf(spread)).any():
            raise DataError(
                f"{source}: spread must be a share of the price in [0, 1) (0.0004 = 4 bp); fix or blank those cells"
            )
        keep.append("spread")
    return panel[keep].astype("float64")


def _check_range(panel: pd.DataFrame, source: str) -> None:
    """Refuse an open or close outside the day's [low, high], beyond :data:`RANGE_TOLERANCE`, naming the first.

    Only real values are compared: a missing high, low, open or close (a gap) is not looked at, and a row with
    only a low still has its close checked against it.
    """
    high = panel["high"].to_numpy(dtype="float64") * (1.0 + RANGE_TOLERANCE)
    low = panel["low"].to_numpy(dtype="float64") * (1.0 - RANGE_TOLERANCE)
    checks = []
    for column in ("close", "open"):
        price = panel[column].to_numpy(dtype="float64")
        checks += [(f"{column} above high", price > high), (f"{column} below low", price < low)]
    outside = np.logical_or.reduce([bad for _, bad in checks])
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        what = next(name for name, bad in checks if bad[first])
        date, ticker = panel.index[first]
        raise DataError(
            f"{source}: {what} for {ticker} on {date:%Y-%m-%d} ({int(outside.sum())} row(s) with open or close "
            "outside [low, high]); check the column order and the units, or fix those rows"
        )


def to_long_csv(panel: pd.DataFrame) -> str:
    """The panel as long CSV text (date, ticker, ...), the layout :func:`read_panel` reads."""
    buf = io.StringIO()
    panel.reset_index().to_csv(buf, index=False, date_format="%Y-%m-%d")
    return buf.getvalue()
