"""Exchange calendars: the days a market was open, from the ``exchange-calendars`` package.

The ``--calendar`` option takes a name:

- ``auto``: the calendar of the exchange the data says it comes from, else none. A loader that knows the
  exchange writes its code into ``panel.attrs["calendar"]``; today only a JPX competition folder does
  (``XTKS``, see :func:`forecasting.market.loaders.read_jpx`).
- ``none``: no calendar; the trading days are the days of the data (a day on which any ticker has a price).
- any exchange-calendars code, such as ``XNYS`` (New York), ``XTKS`` (Tokyo) or ``XLON`` (London), or one of its
  aliases (``NYSE``, ``JPX``); case does not matter.

``exchange_calendars`` is imported only when a calendar is used: it takes about half a second, and
``qtrade --help`` must not wait for it.
"""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd

from forecasting.errors import ConfigError, DataError

__all__ = ["AUTO", "CALENDAR_ATTR", "NONE", "calendar_name", "resolve_calendar", "sessions"]

AUTO = "auto"
NONE = "none"
CALENDAR_ATTR = "calendar"
"""Key of ``DataFrame.attrs`` where a loader records the exchange its data comes from."""

_EXAMPLES = "XNYS (New York), XTKS (Tokyo), XLON (London), XHKG (Hong Kong), XFRA (Frankfurt)"


def calendar_name(name: str) -> str:
    """``name`` checked and spelled as exchange-calendars spells it: ``"auto"``, ``"none"`` or a code.

    Raises
    ------
    ConfigError
        When exchange-calendars has no calendar of that name; the message lists a few that it has.

    Examples
    --------
    >>> calendar_name("None"), calendar_name(" AUTO ")
    ('none', 'auto')
    >>> calendar_name("xnys")
    'XNYS'
    """
    text = str(name).strip()
    if text.lower() in (AUTO, NONE):
        return text.lower()
    known = _module().get_calendar_names(include_aliases=True)
    if text in known:
        return text
    by_case = {k.lower(): k for k in known}
    if text.lower() in by_case:
        return by_case[text.lower()]
    raise ConfigError(
        f"--calendar {text!r} is not an exchange calendar; use auto, none or an exchange-calendars code such as "
        f"{_EXAMPLES} (exchange_calendars.get_calendar_names() lists all {len(known)})"
    )


def resolve_calendar(name: str | None, panel: pd.DataFrame | None = None) -> str | None:
    """The calendar code ``name`` stands for on ``panel``, or ``None`` for no calendar.

    ``auto`` gives the code a loader recorded in ``panel.attrs["calendar"]``, else ``None``; ``None`` and
    ``"none"`` give ``None``.

    Examples
    --------
    >>> frame = pd.DataFrame()
    >>> resolve_calendar("auto", frame) is None
    True
    >>> frame.attrs["calendar"] = "XTKS"
    >>> resolve_calendar("auto", frame), resolve_calendar("none", frame)
    ('XTKS', None)
    """
    text = calendar_name(name) if name is not None else NONE
    if text == NONE:
        return None
    if text == AUTO:
        hint = panel.attrs.get(CALENDAR_ATTR) if panel is not None else None
        return calendar_name(str(hint)) if hint else None
    return text


def sessions(name: str, first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
    """The sessions of calendar ``name`` from ``first`` to ``last``, both included, as midnight dates.

    The calendar is built from ``first`` on, so that it covers old data and does not build decades of
    sessions for recent data.

    Raises
    ------
    DataError
        When the calendar does not reach back to ``first`` or forward to ``last``, or has no session
        between them.

    Examples
    --------
    >>> list(sessions("XNYS", pd.Timestamp("2020-07-01"), pd.Timestamp("2020-07-07")).strftime("%m-%d"))
    ['07-01', '07-02', '07-06', '07-07']
    """
    code = calendar_name(name)
    first, last = pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize()
    module = _module()
    try:
        with warnings.catch_warnings():  # pandas deprecations inside exchange_calendars: nothing a user can do
            warnings.simplefilter("ignore", DeprecationWarning)
            days = pd.DatetimeIndex(module.get_calendar(code, start=first, end=max(last, first)).sessions)
    except module.errors.NoSessionsError:
        days = pd.DatetimeIndex([])
    except (module.errors.CalendarError, ValueError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(
            f"calendar {code} does not cover the data's dates {first:%Y-%m-%d} to {last:%Y-%m-%d} "
            f"({reason}); pass --calendar none"
        ) from None
    if days.tz is not None:
        days = days.tz_localize(None)
    days = days[(days >= first) & (days <= last)]
    if len(days) == 0:
        raise DataError(
            f"calendar {code} has no session from {first:%Y-%m-%d} to {last:%Y-%m-%d}; "
            "pick the data's exchange or pass --calendar none"
        )
    return pd.DatetimeIndex(days.normalize().as_unit("ns").to_numpy(), name="date")


def _module() -> Any:
    try:
        import exchange_calendars
    except ImportError:
        raise ConfigError(
            "--calendar needs the exchange-calendars package; pip install 'exchange-calendars>=4.5', "
            "or pass --calendar none"
        ) from None
    return exchange_calendars
