"""backtrader, made safe on Python 3.11 and on headless machines; import ``bt`` from here, never directly.

- ``collections.Iterable`` left the ``collections`` module in Python 3.10, and backtrader's ``bindlines`` still
  looks for it there.
- ``backtrader.plot`` forces matplotlib's TkAgg backend when imported, which breaks every later chart on a
  machine without a display; selecting Agg first keeps it. qtrade never calls ``cerebro.plot``.
"""

from __future__ import annotations

import collections
import collections.abc

import matplotlib

matplotlib.use("Agg")

if not hasattr(collections, "Iterable"):
    collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]

import backtrader as bt

__all__ = ["bt"]
