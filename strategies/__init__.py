"""qtrade's strategies: sizing rules from forecast means and variances, and the backtrader strategy that applies them.

Importing this package does not import backtrader; :mod:`strategies.feeds` and :mod:`strategies.target_weights` do.
"""

from strategies import sizing
from strategies.registry import Bar, Param, StrategySpec, available, get, parse_params, register

__all__ = ["Bar", "Param", "StrategySpec", "available", "get", "parse_params", "register", "sizing"]
