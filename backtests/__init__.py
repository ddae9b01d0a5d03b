"""qtrade's backtests: running strategies on forecasts and writing the reports."""
