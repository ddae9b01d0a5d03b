"""Execution modes: when a forecast made at the close of day t is traded, and so which return it must forecast.

A forecast with origin t uses day t's whole bar (close, high, low, volume), so an order it causes can only fill
at a price printed later. Each mode names that price and the return the position then holds:

==============  ==========================  ======================================  ==============
mode            fills at                    holds (the forecast's target)           status
==============  ==========================  ======================================  ==============
``next-close``  the close of t+1            log(Close_{t+2} / Close_{t+1})          default
``next-open``   the open of t+1             log(Open_{t+2} / Open_{t+1})
``same-close``  the close of t              log(Close_{t+1} / Close_t)              optimistic
==============  ==========================  ======================================  ==============

``next-close`` is the convention of Qlib's label and of the JPX competition's target. ``same-close`` is the
original project's next-day target; it fills at the very close the forecast was computed from, which no real
order can (a market-on-close order is due before the close is printed), so it is kept only for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from forecasting.errors import ConfigError

__all__ = ["DEFAULT_EXECUTION", "EXECUTIONS", "ExecutionMode", "execution_mode"]

EXECUTIONS = ("next-close", "next-open", "same-close")
DEFAULT_EXECUTION = "next-close"


@dataclass(frozen=True)
class ExecutionMode:
    """One execution mode and the target it defines.

    Attributes
    ----------
    name
        ``next-close``, ``next-open`` or ``same-close``.
    price
        The price a position is entered and left at: ``"close"`` or ``"open"``.
    lag
        Bars from the forecast's origin t to the bar whose ``price`` fills the order: 1 for the ``next-`` modes,
        0 for ``same-close``. The target of origin t is ``log(price_{t+lag+1} / price_{t+lag})``.
    """

    name: str
    price: Literal["close", "open"]
    lag: int

    @property
    def horizon(self) -> int:
        """Bars from the origin to the last price the target uses (``lag + 1``)."""
        return self.lag + 1

    @property
    def optimistic(self) -> bool:
        """True when the fill price is one the forecast already used (``same-close``)."""
        return self.lag == 0 and self.price == "close"

    def describe(self) -> str:
        """The target in words, e.g. ``"log return from the close of t+1 to the close of t+2"``."""

        def day(k: int) -> str:
            return "t" if k == 0 else f"t+{k}"

        return f"log return from the {self.price} of {day(self.lag)} to the {self.price} of {day(self.lag + 1)}"


_MODES = {
    "next-close": ExecutionMode("next-close", "close", 1),
    "next-open": ExecutionMode("next-open", "open", 1),
    "same-close": ExecutionMode("same-close", "close", 0),
}


def execution_mode(name: str | ExecutionMode) -> ExecutionMode:
    """The mode called ``name``, or a one-line error that lists the known ones.

    Examples
    --------
    >>> mode = execution_mode("next-close")
    >>> mode.price, mode.lag, mode.horizon
    ('close', 1, 2)
    >>> execution_mode("same-close").describe()
    'log return from the close of t to the close of t+1'
    """
    if isinstance(name, ExecutionMode):
        return name
    mode = _MODES.get(str(name).strip().lower())
    if mode is None:
        raise ConfigError(
            f"--execution {name!r} is not known; use one of {', '.join(EXECUTIONS)} (default {DEFAULT_EXECUTION})"
        )
    return mode
