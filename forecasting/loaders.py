"""Market data in, one canonical panel out.

The canonical panel is a DataFrame indexed by ``(date, ticker)``, sorted, with float columns
``open, high, low, close, volume``; prices are adjusted for splits (and, where the source says so,
dividends). Every reader below ends in :func:`validate_panel`, so bad input fails here, at the boundary,
with a one-line :class:`~forecasting.errors.DataError` that names the file, the problem and the fix.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.errors import DataError

__all__ = [
    "DEFAULT_DATASET",
    "PRICE_COLUMNS",
    "load_default",
    "load_market_data",
    "read_jpx",
    "read_panel",
    "read_yahoo_csv",
    "validate_panel",
]

PRICE_COLUMNS = ("open", "high", "low", "close")
COLUMNS = (*PRICE_COLUMNS, "volume")
DEFAULT_DATASET = "us_tech_daily.csv.gz"
_TICKER_ALIASES = ("ticker", "symbol", "code", "securitiescode")
_DATE_ALIASES = ("date", "datetime", "timestamp")


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
    ref = resources.files("forecasting.datasets").joinpath(DEFAULT_DATASET)
    with resources.as_file(ref) as path:
        return read_panel(path, source=f"embedded {DEFAULT_DATASET}")


def load_market_data(
    path: str | os.PathLike[str] | None = None, *, tickers: Sequence[str] | None = None
) -> pd.DataFrame:
    """Load any supported layout into the canonical panel; ``None`` gives the embedded default.

    Parameters
    ----------
    path
        A Yahoo-style single-ticker CSV, a long panel (CSV or Parquet), a JPX ``stock_prices.csv`` or a
        folder of the JPX competition (``train_files/`` and ``supplemental_files/``), or ``None``.
    tickers
        Keep only these tickers (as strings); an unknown one is an error.

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
        if p.is_dir():
            panel = read_jpx(p)
        elif p.suffix.lower() in (".parquet", ".pq"):
            panel = read_panel(p)
        else:
            panel = _read_csv_any(p)
    if tickers:
        wanted = [str(t) for t in tickers]
        have = set(panel.index.get_level_values("ticker"))
        missing = [t for t in wanted if t not in have]
        if missing:
            sample = ", ".join(sorted(have)[:8])
            raise DataError(f"{source}: no ticker {', '.join(missing)}; choose from {sample}")
        panel = panel[panel.index.get_level_values("ticker").isin(wanted)]
    return panel


def _read_csv_any(path: Path) -> pd.DataFrame:
    head = _head_rows(path, 3)
    if not head or not any(cell.strip() for cell in head[0]):
        raise DataError(f"{path}: the file is empty; give a CSV with a header and at least one row")
    first = [c.strip().lower() for c in head[0]]
    if "securitiescode" in first:
        return read_jpx(path)
    if first[0] == "price" and len(head) > 1 and head[1] and head[1][0].strip().lower() == "ticker":
        return read_yahoo_csv(path)
    if any(c in _TICKER_ALIASES for c in first):
        return read_panel(path)
    return read_yahoo_csv(path)


def _head_rows(path: Path, n: int) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            return [row for _, row in zip(range(n), reader)]
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text; save the file as UTF-8 CSV") from None
    except csv.Error as exc:
        raise DataError(f"{path}: not a readable CSV ({exc}); check the delimiter and quoting") from None


def _read_csv(path: Path, **kwargs: object) -> pd.DataFrame:
    try:
        return pd.read_csv(path, encoding="utf-8-sig", **kwargs)  # type: ignore[call-overload]
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; give a CSV with a header and at least one row") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text; save the file as UTF-8 CSV") from None
    except (pd.errors.ParserError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        raise DataError(f"{path}: not a readable CSV ({first}); check the delimiter and quoting") from None


def read_yahoo_csv(path: str | os.PathLike[str], ticker: str | None = None) -> pd.DataFrame:
    """A single-ticker CSV in Yahoo's layout: Date, Open, High, Low, Close, [Adj Close,] Volume.

    Reads the newer three-row header (``Price`` / ``Ticker`` / ``Date``) too, taking the ticker from it.
    With ``Adj Close``, OHLC are multiplied by ``Adj Close / Close`` and volume divided by it.
    The ticker defaults to the file's stem.
    """
    p = Path(path)
    head = _head_rows(p, 3)
    if not head:
        raise DataError(f"{p}: the file is empty; give a CSV with a header and at least one row")
    if head[0] and head[0][0].strip().lower() == "price" and len(head) > 1 and head[1]:
        names = ["Date", *[c.strip() for c in head[0][1:]]]
        tickers_row = [c.strip() for c in head[1][1:] if c.strip()]
        ticker = ticker or (tickers_row[0] if tickers_row else None)
        raw = _read_csv(p, skiprows=3, header=None, names=names)
    else:
        raw = _read_csv(p)
    ticker = ticker or p.name.split(".")[0]
    cols = {_norm(c): c for c in raw.columns}
    _require(p, cols, ("date", *COLUMNS))
    frame = pd.DataFrame({k: raw[cols[k]] for k in ("date", *COLUMNS)})
    frame["ticker"] = ticker
    if "adjclose" in cols:
        frame["adj_close"] = raw[cols["adjclose"]]
    return _finish(p, frame)


def read_panel(path: str | os.PathLike[str], *, source: str | None = None) -> pd.DataFrame:
    """A long panel (date, ticker, open, high, low, close, volume) from CSV or Parquet.

    Column names match case-insensitively (``Symbol`` or ``Code`` stand for the ticker); dates may be ISO
    (``2024-01-31``) or ``YYYYMMDD``. An ``adj_close`` column, if present, adjusts OHLC as for Yahoo files. A
    ``spread`` column, if present, is kept: the bid-ask spread as a share of the price (0.0004 = 4 bp), which
    the backtest charges half of on each fill.
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
    if "adjclose" in cols:
        frame["adj_close"] = raw[cols["adjclose"]]
    if "spread" in cols:
        frame["spread"] = raw[cols["spread"]]
    return _finish(p, frame, source=source)


def read_jpx(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The Tokyo Stock Exchange files of the JPX prediction competition.

    ``path`` is a ``stock_prices.csv`` (or ``secondary_stock_prices.csv``) or a folder holding
    ``train_files/`` and ``supplemental_files/``, whose price files are stacked, a later file winning on
    an overlapping (date, code). Prices are split-adjusted as the organisers' demo does: each stock sorted by
    date descending, OHLC multiplied by the cumulative product of ``AdjustmentFactor`` (the row's own factor
    included) and volume divided by it. ``SecuritiesCode`` becomes the ticker.
    """
    p = Path(path)
    if p.is_dir():
        files = [
            f
            for sub in ("train_files", "supplemental_files", ".")
            for f in sorted((p / sub).glob("stock_prices.csv"))
        ]
        if not files:
            raise DataError(f"{p}: no stock_prices.csv in it or in train_files/ or supplemental_files/; "
                            "point at the competition's folder or at a stock_prices.csv")
    else:
        files = [p]
    parts = []
    for f in files:
        raw = _read_csv(f, dtype={"SecuritiesCode": str})
        cols = {_norm(c): c for c in raw.columns}
        _require(f, cols, ("date", "securitiescode", *COLUMNS, "adjustmentfactor"))
        parts.append(raw.rename(columns={v: k for k, v in cols.items()}))
    raw = pd.concat(parts, ignore_index=True)
    raw["date"] = _parse_dates(p, raw["date"])
    raw = raw.drop_duplicates(["date", "securitiescode"], keep="last")
    raw = raw.sort_values(["securitiescode", "date"], ascending=[True, False])
    factor = pd.to_numeric(raw["adjustmentfactor"], errors="coerce").fillna(1.0)
    if (factor <= 0).any():
        raise DataError(f"{p}: AdjustmentFactor must be positive; fix or drop the rows with factor <= 0")
    cumulative = factor.groupby(raw["securitiescode"], sort=False).cumprod()
    frame = pd.DataFrame({"date": raw["date"], "ticker": raw["securitiescode"].astype(str).str.strip()})
    for c in PRICE_COLUMNS:
        frame[c] = _numeric(p, raw[c], c) * cumulative
    frame["volume"] = _numeric(p, raw["volume"], "volume") / cumulative
    return _finish(p, frame)


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
        raise DataError(f"{path}: column {name} has a non-numeric value {example!r}; fix or blank that cell")
    return out.astype("float64")


def _parse_dates(path: Path, values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values) and not values.isna().any():
        parsed = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) is not None else values
        return parsed.dt.normalize().astype("datetime64[ns]")
    if values.isna().any() or (values.astype(str).str.strip() == "").any():
        raise DataError(f"{path}: some dates are blank; fill or drop those rows")
    text = values.astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
    fmt = "%Y%m%d" if text.str.fullmatch(r"\d{8}").all() else "ISO8601"
    try:
        parsed = pd.to_datetime(text, format=fmt)
    except (ValueError, TypeError):
        try:
            parsed = pd.to_datetime(text, format="mixed", dayfirst=False)
        except (ValueError, TypeError, OverflowError):
            example = next((t for t in text if pd.isna(pd.to_datetime(t, errors="coerce", format="mixed"))),
                           text.iloc[0])
            raise DataError(
                f"{path}: cannot parse date {example!r}; write dates as YYYY-MM-DD or YYYYMMDD"
            ) from None
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    outside = parsed.isna() | (parsed < pd.Timestamp("1900-01-01")) | (parsed > pd.Timestamp("2200-01-01"))
    if outside.any():
        example = text[outside.to_numpy()].iloc[0]
        raise DataError(f"{path}: date {example!r} is not a trading day between 1900 and 2200; "
                        "write dates as YYYY-MM-DD or YYYYMMDD")
    return parsed.dt.normalize().astype("datetime64[ns]")


def _finish(path: Path, frame: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    where = source or str(path)
    if frame.empty:
        raise DataError(f"{where}: the file has a header but no rows; give at least one row of prices")
    frame = frame.copy()
    frame["date"] = _parse_dates(Path(where), frame["date"])
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

    Missing values (NaN) are allowed: they are gaps for :func:`forecasting.cleaning.clean_panel`.
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
    if (panel["volume"] < 0).any():
        raise DataError(f"{source}: negative volume; fix or blank those cells")
    keep = list(COLUMNS)
    if "spread" in panel.columns:
        spread = panel["spread"].astype("float64")
        if ((spread < 0) | (spread >= 1) | np.isinf(spread)).any():
            raise DataError(f"{source}: spread must be a share of the price in [0, 1) (0.0004 = 4 bp); "
                            "fix or blank those cells")
        keep.append("spread")
    return panel[keep].astype("float64")


def to_long_csv(panel: pd.DataFrame) -> str:
    """The panel as long CSV text (date, ticker, ...), the layout :func:`read_panel` reads."""
    buf = io.StringIO()
    panel.reset_index().to_csv(buf, index=False, date_format="%Y-%m-%d")
    return buf.getvalue()
