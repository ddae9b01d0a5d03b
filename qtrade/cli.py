"""The ``qtrade`` command: parse, call one function, print, map errors to exit codes.

Heavy libraries (torch, backtrader, quantstats) are imported inside the commands that use them, so that
``qtrade --help`` answers at once.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

app = typer.Typer(
    name="qtrade",
    help="Forecast stock returns with an LSTM-MLE model and find out, honestly, whether the forecasts make money.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])

DataArg = Annotated[
    Path | None,
    typer.Argument(help="CSV/Parquet file or JPX folder; the embedded US tech panel when left out.", show_default=False),
]
TickersOpt = Annotated[
    list[str] | None, typer.Option("--tickers", "-t", help="Keep only these tickers (repeat the option).")
]
MaxGapOpt = Annotated[int, typer.Option(help="Interpolate gaps of at most this many trading days.", min=0)]


def _fail_cleanly(fn: F) -> F:
    """Turn qtrade's own errors into one line on stderr and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from forecasting.errors import QtradeError

        try:
            return fn(*args, **kwargs)
        except QtradeError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted; outputs already written are complete, the rest were not written", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        from qtrade import __version__

        typer.echo(__version__)
        raise typer.Exit(0)


@app.command()
@_fail_cleanly
def data(
    path: DataArg = None,
    tickers: TickersOpt = None,
    max_gap: MaxGapOpt = 5,
    window: Annotated[int, typer.Option(help="Check every ticker has enough rows for this window.", min=1)] = 30,
) -> None:
    """Validate and summarise a data set: tickers, date range, rows, repaired values."""
    from forecasting.cleaning import clean_panel
    from forecasting.loaders import load_market_data
    from forecasting.summary import check_window, summarize

    source = str(path) if path else "embedded US tech panel (AAPL, GOOG, IBM, MSFT)"
    clean = clean_panel(load_market_data(path, tickers=tickers), max_gap=max_gap)
    summary = summarize(clean, source)
    _print_summary(summary)
    check_window(clean, window, source)


def _print_summary(summary: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    s = summary
    console.print(f"[bold]{s.source}[/bold]", soft_wrap=True)
    console.print(
        f"{s.n_tickers} tickers, {s.first_date:%Y-%m-%d} to {s.last_date:%Y-%m-%d}, {s.n_dates} trading days, "
        f"{s.rows} rows", soft_wrap=True,
    )
    console.print(
        f"{s.repaired} values repaired by interpolation, {s.unbridged} left missing (gaps too long), "
        f"{s.closed_dates} market-wide empty days dropped", soft_wrap=True,
    )
    table = Table("ticker", "first", "last", "rows", "repaired", "missing close")
    per = s.per_ticker
    shown = per if len(per) <= 20 else per.head(20)
    for ticker, row in shown.iterrows():
        table.add_row(
            str(ticker), f"{row['first']:%Y-%m-%d}", f"{row['last']:%Y-%m-%d}",
            str(row["rows"]), str(row["repaired"]), str(row["missing"]),
        )
    console.print(table)
    if len(per) > 20:
        console.print(f"... and {len(per) - 20} more tickers")


def run() -> None:
    """Entry point of the ``qtrade`` script."""
    app(prog_name="qtrade")


if __name__ == "__main__":
    sys.exit(run())
