"""qtrade's strategies: sizing rules from forecast means and variances, and the backtrader strategies."""
