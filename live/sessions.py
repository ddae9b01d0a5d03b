"""Is the data fresh? Its last date must be the latest session the exchange has completed as of a moment.

The sessions are the exchange calendar's (:mod:`forecasting.market.calendars`) that the backtest run traded on;
a run without a calendar trades business days (Monday to Friday). A session is completed at its close: with a
calendar, the close the calendar gives (in UTC); a date without a time of day (``--as-of 2024-05-17``) is taken
as that day's evening, after any close. Without a calendar there is no close time: a business day counts as
completed from its start.
"""

from __future__ import annotations

import warnings

import pandas as pd

from live.errors import StaleData

__all__ = ["as_of_time", "check_fresh", "latest_session"]

_LOOKBACK = pd.Timedelta(days=60)  # far enough back to find a session before any run of holidays


def as_of_time(text: str | None) -> pd.Timestamp:
    """``--as-of``: a date (that day's evening) or a date and time (UTC unless it names a zone); now when None.

    Examples
    --------
    >>> as_of_time("2024-05-17")
    Timestamp('2024-05-17 00:00:00')
    >>> as_of_time("2024-05-17T15:30+09:00")
    Timestamp('2024-05-17 06:30:00+0000', tz='UTC')
    """
    from forecasting.errors import ConfigError

    if text is None:
        return pd.Timestamp.now(tz="UTC")
    try:
        moment = pd.Timestamp(text)
    except ValueError:
        raise ConfigError(f"--as-of {text!r} is not a date; give YYYY-MM-DD or YYYY-MM-DDTHH:MM[+zone]") from None
    if moment.tzinfo is not None:
        return moment.tz_convert("UTC")
    return moment if moment == moment.normalize() else moment.tz_localize("UTC")


def _evening(moment: pd.Timestamp) -> bool:
    """A moment given as a bare date: that day's evening."""
    return moment.tzinfo is None and moment == moment.normalize()


def _sessions(calendar: str | None, first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
    if calendar is None:
        return pd.bdate_range(first, last)
    from forecasting.market.calendars import sessions

    return sessions(calendar, first, last)


def latest_session(calendar: str | None, as_of: pd.Timestamp) -> pd.Timestamp:
    """The latest session of ``calendar`` (None: business days) completed at ``as_of``.

    Examples
    --------
    >>> latest_session(None, pd.Timestamp("2024-05-19"))  # a Sunday: Friday's session
    Timestamp('2024-05-17 00:00:00')
    >>> latest_session("XNYS", pd.Timestamp("2024-05-17 15:00", tz="UTC"))  # before New York's close
    Timestamp('2024-05-16 00:00:00')
    """
    day = as_of.tz_localize(None).normalize() if as_of.tzinfo is not None else as_of.normalize()
    days = _sessions(calendar, day - _LOOKBACK, day)
    if calendar is not None and not _evening(as_of) and len(days) and days[-1] == day:
        import exchange_calendars

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            close = exchange_calendars.get_calendar(calendar, start=day - _LOOKBACK).session_close(day)
        if pd.Timestamp(close).tz_convert("UTC") > as_of:
            days = days[:-1]
    return pd.Timestamp(days[-1])


def check_fresh(last: pd.Timestamp, calendar: str | None, as_of: pd.Timestamp) -> pd.Timestamp:
    """Refuse data whose ``last`` date is not the latest completed session as of ``as_of``; return that session.

    Raises
    ------
    StaleData
        "data is stale by N sessions (last DATE, expected DATE)", or, for data that runs past the moment,
        which sessions it holds that had not closed.

    Examples
    --------
    >>> check_fresh(pd.Timestamp("2024-05-15"), None, pd.Timestamp("2024-05-17"))
    Traceback (most recent call last):
    live.errors.StaleData: data is stale by 2 sessions (last 2024-05-15, expected 2024-05-17); give data up to the \
latest close, or --as-of the day it ends
    """
    expected = latest_session(calendar, as_of)
    last = pd.Timestamp(last).normalize()
    if last == expected:
        return expected
    if last > expected:
        raise StaleData(
            f"data runs to {last:%Y-%m-%d}, after {expected:%Y-%m-%d}, the latest session completed as of "
            f"--as-of {as_of}; give --as-of a moment after the data's last close"
        )
    behind = int((_sessions(calendar, last, expected) > last).sum())
    raise StaleData(
        f"data is stale by {behind} session{'s' if behind != 1 else ''} (last {last:%Y-%m-%d}, expected "
        f"{expected:%Y-%m-%d}); give data up to the latest close, or --as-of the day it ends"
    )
