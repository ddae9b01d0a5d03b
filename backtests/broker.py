"""qtrade's backtrader broker: the stock ``BackBroker`` without the notifications nobody reads.

``BackBroker`` copies an order (``order.clone()``, a deep walk of its execution data) every time the order
changes state: submitted and accepted, then executed. qtrade's strategy acts only on finished orders (filled,
refused for want of cash, cancelled or expired), and a finished order never changes again, so this broker
passes those on as they are and drops the rest. Fills, prices, cash and positions are the stock broker's:
only the messages are fewer. Orders here fill whole (no volume filler), so every order finishes exactly once.
"""

from __future__ import annotations

from typing import Any

from strategies.backtrader_compat import bt

__all__ = ["LeanBroker"]

_FINISHED = frozenset(
    (bt.Order.Completed, bt.Order.Canceled, bt.Order.Expired, bt.Order.Margin, bt.Order.Rejected)
)


class LeanBroker(bt.brokers.BackBroker):  # type: ignore[misc]
    """``BackBroker`` that notifies only finished orders, without copying them."""

    def notify(self, order: Any) -> None:
        if order.status in _FINISHED:
            self.notifs.append(order)
