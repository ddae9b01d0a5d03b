"""The ``qtrade`` command: parse, call one function, print, map errors to exit codes.

Heavy libraries (torch, backtrader, quantstats) are imported inside the commands that use them, so that
``qtrade --help`` answers at once.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from qtrade.printing import (
    print_backtest,
    print_comparison,
    print_ledger_report,
    print_next_orders,
    print_paper_day,
    print_signal,
    print_strategy_comparison,
    print_summary,
)

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
    typer.Argument(
        help="CSV/Parquet file or JPX folder; the embedded US tech panel when left out.", show_default=False
    ),
]
TickersOpt = Annotated[
    list[str] | None, typer.Option("--tickers", "-t", help="Keep only these tickers (repeat the option).")
]
MaxGapOpt = Annotated[int, typer.Option(help="Interpolate gaps of at most this many trading days.", min=0)]
DateFormatOpt = Annotated[
    str | None, typer.Option(help="strptime format of the data's dates, such as %d/%m/%Y, when the file cannot tell.")
]
CalendarOpt = Annotated[
    str,
    typer.Option(
        help="Trading days: auto (XTKS for a JPX folder, else none), none (the data's own days) or an "
        "exchange-calendars code such as XNYS or XTKS, whose sessions missing from the data become gaps."
    ),
]
DistOpt = Annotated[
    str | None,
    typer.Option(
        help="Predictive distribution of the network: studentt (fat tails, degrees of freedom learnt per forecast; the "
        "default) or normal (the default with --loss mse).",
        show_default=False,
    ),
]
EnsembleOpt = Annotated[
    int, typer.Option(help="Train this many seeds (seed, seed+1, ...) and forecast their equal mixture.")
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        help="CPU threads for torch; by default the cores are shared among the qtrade processes running.", min=1
    ),
]
ExecutionOpt = Annotated[
    str,
    typer.Option(
        help="next-close (default), next-open or same-close: when a forecast trades, and so the return it forecasts."
    ),
]
OosStartOpt = Annotated[
    str | None,
    typer.Option(
        help="Walk-forward: forecast out of sample from this date (YYYY-MM-DD), refitting on the way; by default "
        "one split (or, with --refit-every alone, from the start of the last 15% of the days).",
        show_default=False,
    ),
]
RefitEveryOpt = Annotated[
    str | None,
    typer.Option(
        help="Walk-forward: refit every this many trading days (63) or months and years (3m, 6m, 1y; 1y by default).",
        show_default=False,
    ),
]
TrainWindowOpt = Annotated[
    str, typer.Option(help="Walk-forward: expanding, or the training block's length in trading days (rolling).")
]
ValDaysOpt = Annotated[
    int | None,
    typer.Option(help="Walk-forward: validation days before each refit (252 by default).", min=1, show_default=False),
]
WarmStartOpt = Annotated[
    bool,
    typer.Option(
        "--warm-start/--cold-start",
        help="Walk-forward: start each fold from the previous fold's weights (sequential), or afresh.",
    ),
]
JobsOpt = Annotated[int, typer.Option(help="Walk-forward: folds fitted at once, in worker processes.", min=1)]
ClusterOpt = Annotated[
    str | None,
    typer.Option(
        help="Walk-forward: fit the folds on the Dask cluster whose scheduler is at this address (tcp://host:8786).",
        show_default=False,
    ),
]


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
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:
            if os.environ.get("QTRADE_DEBUG"):
                raise
            first = (str(exc).splitlines() or [""])[0][:200]
            typer.echo(
                f"error: unexpected {type(exc).__name__}: {first}; this is a qtrade bug, please report it "
                "(QTRADE_DEBUG=1 shows the traceback)",
                err=True,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False) -> None:
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
    date_format: DateFormatOpt = None,
    calendar: CalendarOpt = "auto",
) -> None:
    """Validate and summarise a data set: tickers, date range, rows, repaired values."""
    import warnings

    from forecasting.market.calendars import calendar_name
    from forecasting.market.cleaning import clean_panel
    from forecasting.market.loaders import load_market_data
    from forecasting.market.summary import check_window, data_warnings, summarize

    calendar = calendar_name(calendar)  # an unknown name fails before the data is read
    source = str(path) if path else "embedded US tech panel (AAPL, GOOG, IBM, MSFT)"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        panel = load_market_data(path, tickers=tickers, date_format=date_format)
        clean = clean_panel(panel, max_gap=max_gap, calendar=calendar)
    for message in caught:
        typer.echo(f"warning: {message.message}", err=True)
    summary = summarize(clean, source)
    print_summary(summary)
    for line in data_warnings(summary):  # units and volume; the suspected splits are printed with the table
        typer.echo(f"warning: {line}", err=True)
    check_window(clean, window, source)


@app.command()
@_fail_cleanly
def forecast(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for forecasts, metrics, model and charts.")],
    data: Annotated[
        Path | None, typer.Option(help="Data file or JPX folder; the embedded panel when left out.")
    ] = None,
    tickers: TickersOpt = None,
    model: Annotated[Path | None, typer.Option(help="Forecast with this saved model.pt; no training.")] = None,
    params: Annotated[Path | None, typer.Option(help="JSON of settings (best_params.json of qtrade tune).")] = None,
    window: Annotated[int, typer.Option(help="Days of history per forecast.")] = 30,
    hidden: Annotated[int, typer.Option(help="LSTM hidden size.")] = 64,
    layers: Annotated[int, typer.Option(help="LSTM layers.")] = 2,
    dropout: Annotated[float, typer.Option(help="Dropout between and after the LSTM layers.")] = 0.2,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    epochs: Annotated[int, typer.Option(help="Most epochs; early stopping usually ends sooner.")] = 30,
    batch_size: Annotated[int, typer.Option(help="Training batch size.")] = 256,
    patience: Annotated[int, typer.Option(help="Epochs without validation gain before stopping.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the run (weights, dropout, shuffling).")] = 0,
    device: Annotated[str, typer.Option(help="auto (CUDA when there is one), cpu or cuda.")] = "auto",
    amp: Annotated[
        bool,
        typer.Option(
            "--amp",
            help=(
                "Half-precision autocast on CUDA (bfloat16): about 1.8x faster from batch 16,384, slightly worse NLL."
            ),
        ),
    ] = False,
    loss: Annotated[str, typer.Option(help="nll (MLE of --dist) or mse (variance from validation residuals).")] = "nll",
    dist: DistOpt = None,
    ensemble: EnsembleOpt = 1,
    workers: Annotated[int, typer.Option(help="DataLoader worker processes.")] = 0,
    max_gap: MaxGapOpt = 5,
    oos_start: OosStartOpt = None,
    refit_every: RefitEveryOpt = None,
    train_window: TrainWindowOpt = "expanding",
    val_days: ValDaysOpt = None,
    warm_start: WarmStartOpt = False,
    jobs: JobsOpt = 1,
    cluster: ClusterOpt = None,
    execution: Annotated[
        str | None,
        typer.Option(help="next-close (default), next-open or same-close: the fill, and so the return forecast."),
    ] = None,
    date_format: DateFormatOpt = None,
    calendar: CalendarOpt = "auto",
    threads: ThreadsOpt = None,
    mean_shrinkage: Annotated[
        str,
        typer.Option(
            help="Scale the forecast mean: auto (the factor 0, 0.1, ..., 1 with the lowest validation NLL), none, or a "
            "factor from 0 (a zero mean) to 1."
        ),
    ] = "none",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train the LSTM-MLE forecaster, score it beside naive and GARCH baselines, write mean/variance forecasts."""
    from forecasting.errors import ConfigError
    from forecasting.market.loaders import load_market_data
    from forecasting.pipeline import ForecastConfig, predict_with_model, run_forecast
    from forecasting.preparation.execution import DEFAULT_EXECUTION, execution_mode

    if execution is not None:
        execution = execution_mode(execution).name
    source = str(data) if data else "embedded US tech panel"
    if model is not None:
        walk = ForecastConfig(
            oos_start=oos_start,
            refit_every=refit_every,
            train_window=train_window,
            val_days=val_days,
            warm_start=warm_start,
            jobs=jobs,
            cluster=cluster,
        ).walk_options
        if walk:
            raise ConfigError(
                f"{', '.join(walk)}: --model forecasts with a saved model and trains nothing; leave "
                f"{'it' if len(walk) == 1 else 'them'} out, or train a walk-forward without --model"
            )
    panel = load_market_data(data, tickers=tickers, date_format=date_format)
    if model is not None:
        saved = predict_with_model(
            panel, model, out, source=source, device=device, execution=execution, calendar=calendar
        )
        typer.echo(f"{len(saved.forecasts)} forecasts from {model} written to {out}")
        if "test" in saved.metrics:
            print_comparison(saved.metrics, out)
        else:
            typer.echo(
                saved.metrics.get(
                    "note",
                    "not scored: no test-period forecast has a realised return and a "
                    "forecast from every baseline (GARCH needs 100 training returns)",
                )
            )
        return
    config = ForecastConfig(
        window=window,
        hidden=hidden,
        layers=layers,
        dropout=dropout,
        lr=lr,
        epochs=epochs,
        batch_size=batch_size,
        patience=patience,
        seed=seed,
        device=device,
        amp=amp,
        loss=loss,
        workers=workers,
        max_gap=max_gap,
        oos_start=oos_start,
        refit_every=refit_every,
        train_window=train_window,
        val_days=val_days,
        warm_start=warm_start,
        jobs=jobs,
        cluster=cluster,
        execution=execution or DEFAULT_EXECUTION,
        threads=threads,
        dist=dist,
        ensemble=ensemble,
        calendar=calendar,
        mean_shrinkage=mean_shrinkage,
    )
    if params is not None:
        config = _with_params(ctx, config, params)
    run = run_forecast(panel, config, out, source=source, progress=not quiet)
    if "test" in run.metrics:
        print_comparison(run.metrics, out)
    else:
        typer.echo(
            f"forecasts written to {out}; not scored: no test-period forecast has a realised return and a "
            "forecast from every baseline"
        )


@app.command()
@_fail_cleanly
def strategies(
    rules: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="List the strategies of this rules file of your own (see examples/custom_rules.py) instead; "
            "run one with qtrade backtest --strategy FILE:NAME.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """List the strategies with their parameters and defaults (built-in and from installed packages, or a file's)."""
    from rich.console import Console
    from rich.table import Table

    from strategies import available
    from strategies.user_rules import load_rules

    specs = list(load_rules(rules).values()) if rules is not None else available()
    table = Table("name", "what it does", "parameters (defaults)", "forecast", "weights")
    for spec in specs:
        params = "\n".join(f"{k}={p.default!r}: {p.help}" for k, p in spec.params.items()) or "-"
        table.add_row(
            spec.name,
            spec.summary,
            params,
            "yes" if spec.uses_forecast else "no",
            "per sleeve" if spec.sleeve else "portfolio",
        )
    console = Console(width=140)
    console.print(table)
    console.print(
        "per sleeve: each weight is divided by N, the number of tickers, so N tickers share the equity in N "
        "equal sleeves\n(kelly fraction=0.5 on 4 tickers holds at most 0.5 * E[R] / E[R^2] / 4 of the equity "
        "in one ticker); portfolio: shares of the whole equity.",
        markup=False,
        highlight=False,
    )
    if rules is not None:
        console.print(
            f"run one with: qtrade backtest --strategy {rules}:{specs[0].name} --out DIR", markup=False, highlight=False
        )


@app.command()
@_fail_cleanly
def backtest(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the tearsheet, returns, trades and stats.")],
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            "-s",
            help="A name from qtrade strategies; all: every strategy on the same forecasts, each into OUT/<name>, "
            "compared in OUT/comparison.csv with Hansen's SPA test of the best against the benchmark; or a rule of "
            "your own, PATH.py:NAME (qtrade strategies --from PATH.py lists them; PATH.py alone when it has one).",
        ),
    ] = "kelly",
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Strategy setting key=value (repeat).")
    ] = None,
    forecasts: Annotated[
        Path | None,
        typer.Option(
            help="forecasts.csv/.parquet or a qtrade forecast folder; when left out, the forecaster runs first."
        ),
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Data file or JPX folder; the embedded panel when left out.")
    ] = None,
    tickers: TickersOpt = None,
    cash: Annotated[float, typer.Option(help="Starting cash.")] = 1_000_000.0,
    execution: ExecutionOpt = "next-close",
    commission_bps: Annotated[float, typer.Option(help="Commission, basis points of traded value.")] = 1.0,
    spread: Annotated[
        str,
        typer.Option(
            help="Which bid-ask spread fills pay: auto (the data's spread column, else each ticker's spread estimated "
            "from its own past prices), flat (the column, else --half-spread-bps) or column (the column; an error "
            "without one)."
        ),
    ] = "auto",
    half_spread_bps: Annotated[
        float,
        typer.Option(
            help="Half the bid-ask spread in basis points: paid where the data has no spread column under --spread "
            "flat, the floor of an estimate under auto."
        ),
    ] = 2.0,
    impact: Annotated[
        float,
        typer.Option(help="Square-root impact: this x daily vol x sqrt(traded value / average daily traded value)."),
    ] = 0.5,
    participation: Annotated[
        float, typer.Option(help="Largest share of a bar's volume one order takes; the rest is not traded (1: no cap).")
    ] = 0.1,
    borrow: Annotated[float, typer.Option(help="Annual fee on the value of short positions, accrued daily.")] = 0.005,
    financing: Annotated[
        float,
        typer.Option(
            help="Annual spread over --rf paid on gross exposure above equity (leverage above 1), accrued daily."
        ),
    ] = 0.05,
    rf: Annotated[
        str,
        typer.Option(
            "--rf",
            help="Risk-free rate: an annual rate (0.04) or a CSV of date and annual rate (a T-bill series). Idle "
            "equity earns it, borrowed exposure pays it plus --financing, every Sharpe ratio is in excess of it.",
        ),
    ] = "0",
    benchmark: Annotated[
        str,
        typer.Option(
            help="equal (equal-weight buy and hold of the traded tickers), a ticker of the data (SPY; not traded "
            "when the forecasts have none), or a CSV of date and daily simple return."
        ),
    ] = "equal",
    delisting_return: Annotated[
        float,
        typer.Option(help="Return booked when a ticker's data ends and its position is closed at its last real price."),
    ] = 0.0,
    band: Annotated[float, typer.Option(help="Skip trades smaller than this share of equity.")] = 0.0,
    rebalance: Annotated[
        str,
        typer.Option(
            help="How often the rule decides: daily, weekly or monthly (the first close of each week or month; "
            "positions are kept in between, save a delisting's close)."
        ),
    ] = "daily",
    target_vol: Annotated[
        float | None,
        typer.Option(
            help="Scale every decided book to this annual volatility under the forecast covariance (0.10 = 10%); "
            "its gross exposure at most --max-gross."
        ),
    ] = None,
    max_gross: Annotated[
        float, typer.Option(help="Largest gross exposure (over equity) that --target-vol may scale a book to.")
    ] = 2.0,
    short: Annotated[bool, typer.Option("--short/--no-short", help="Allow short positions.")] = True,
    split: Annotated[str, typer.Option(help="Trade the test period, val, or all (all includes in-sample).")] = "test",
    forecast_params: Annotated[
        Path | None,
        typer.Option(help="JSON of forecaster settings when it runs first (best_params.json of qtrade tune)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the forecaster when it runs first.")] = 0,
    dist: DistOpt = None,
    ensemble: EnsembleOpt = 1,
    oos_start: OosStartOpt = None,
    refit_every: RefitEveryOpt = None,
    train_window: TrainWindowOpt = "expanding",
    val_days: ValDaysOpt = None,
    warm_start: WarmStartOpt = False,
    jobs: JobsOpt = 1,
    cluster: ClusterOpt = None,
    date_format: DateFormatOpt = None,
    calendar: CalendarOpt = "auto",
    threads: ThreadsOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Backtest a strategy on forecast means and variances; write a QuantStats tearsheet with a forecast section."""
    from backtests.benchmark_sources import benchmark_source
    from backtests.costs import CostModel
    from backtests.engine import Execution
    from backtests.pipeline import run_backtest_job
    from backtests.risk_free import parse_rf
    from forecasting.errors import ConfigError
    from forecasting.market.loaders import load_market_data
    from forecasting.pipeline import ForecastConfig

    costs = CostModel(
        commission_bps=commission_bps,
        half_spread_bps=half_spread_bps,
        impact=impact,
        participation=participation,
        borrow=borrow,
        financing=financing,
        spread=spread,
    )
    setup = Execution(
        cash=cash,
        mode=execution,
        costs=costs,
        short=short,
        band=band,
        delisting_return=delisting_return,
        rf=parse_rf(rf),
        rebalance=rebalance,
        target_vol=target_vol,
        max_gross=max_gross,
    )
    config = ForecastConfig(
        seed=seed,
        threads=threads,
        calendar=calendar,
        dist=dist,
        ensemble=ensemble,
        oos_start=oos_start,
        refit_every=refit_every,
        train_window=train_window,
        val_days=val_days,
        warm_start=warm_start,
        jobs=jobs,
        cluster=cluster,
    )
    if forecast_params is not None:
        config = _with_params(ctx, config, forecast_params)
    if forecasts is not None and config.walk_options:
        walk = config.walk_options
        raise ConfigError(
            f"{', '.join(walk)}: the walk-forward options run the forecaster, which --forecasts replaces; leave "
            f"{'it' if len(walk) == 1 else 'them'} out, or leave out --forecasts"
        )
    source = str(data) if data else "embedded US tech panel"
    benchmark_only = bool(tickers) and benchmark not in (tickers or []) and benchmark_source(benchmark).kind == "ticker"
    if benchmark_only:  # the benchmark's prices come from the data too, but it is not one of the tickers traded
        tickers = [*(tickers or []), benchmark]
    panel = load_market_data(data, tickers=tickers, date_format=date_format)
    job: dict[str, Any] = dict(
        benchmark=benchmark,
        benchmark_only=benchmark_only,
        params=param,
        forecasts=forecasts,
        execution=setup,
        split=split,
        forecast_config=config,
        source=source,
        progress=not quiet,
    )
    if strategy == "all":
        from backtests.comparison import run_comparison_job

        comparison = run_comparison_job(panel, out, **job)
        for message in comparison.warnings:
            typer.echo(f"warning: {message}", err=True)
        print_strategy_comparison(comparison)
        return
    run = run_backtest_job(panel, out, strategy=strategy, **job)
    for message in run.warnings:
        typer.echo(f"warning: {message}", err=True)
    print_backtest(run.stats, out)


@app.command()
@_fail_cleanly
def report(
    folder: Annotated[
        Path | None, typer.Argument(help="The --out folder of a finished qtrade backtest (not with --ledger).")
    ] = None,
    ledger: Annotated[
        str | None,
        typer.Option(help="A paper ledger's URL: report its sessions instead (with --out).", show_default=False),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for a ledger's report.")] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="With --ledger: the latest data, to replay the backtest over the ledger's sessions."),
    ] = None,
    date_format: DateFormatOpt = None,
) -> None:
    """Rebuild the tearsheet of a finished backtest from the files in its folder (every tearsheet and the comparison
    page of a --strategy all folder); with --ledger, report a paper ledger beside the backtest's expectation."""
    from backtests.pipeline import rebuild_report
    from forecasting.errors import ConfigError
    from forecasting.manifest import note_rebuild

    if ledger is not None:
        if folder is not None or out is None:
            raise ConfigError(
                "qtrade report --ledger URL --out DIR [--data LATEST]: give --out, and no backtest folder"
            )
        from forecasting.market.loaders import load_market_data
        from live import Ledger
        from live.ledger_report import ledger_report

        panel = load_market_data(data, date_format=date_format) if data is not None else None
        made = ledger_report(Ledger(ledger), out, panel=panel, source=str(data))
        print_ledger_report(made, out)
        return
    if folder is None:
        raise ConfigError("qtrade report FOLDER, or qtrade report --ledger URL --out DIR: give one")
    if (folder / "comparison.json").is_file():
        from backtests.comparison import rebuild_comparison

        paths = rebuild_comparison(folder)
        note_rebuild(folder, command="report", outputs=[str(p.relative_to(folder)) for p in paths])
        typer.echo(f"written {', '.join(str(p) for p in paths)}")
        return
    path = rebuild_report(folder)
    note_rebuild(folder, command="report", outputs=[path.name])  # the manifest says which versions drew it
    typer.echo(f"written {path}")


LatestDataOpt = Annotated[
    Path, typer.Option("--data", help="The latest data, up to the last close, in any layout qtrade forecast reads.")
]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="The moment the data must be fresh at: a date (that evening) or YYYY-MM-DDTHH:MM[+zone]; now when "
        "left out.",
        show_default=False,
    ),
]
LedgerOpt = Annotated[
    str | None,
    typer.Option(
        "--ledger",
        help="The paper ledger's database URL, as --storage names a study: sqlite:///FILE.db or "
        "postgresql://USER@HOST/DB; the SQLite file paper.db in RUN when left out.",
        show_default=False,
    ),
]


@app.command()
@_fail_cleanly
def paper(
    run: Annotated[Path, typer.Argument(help="The --out folder of a finished qtrade backtest.")],
    data: LatestDataOpt,
    ledger: LedgerOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for the session's fills, the next session's orders and targets."),
    ] = None,
    as_of: AsOfOpt = None,
    rf: Annotated[
        str | None,
        typer.Option(
            "--rf",
            help="The risk-free rate (a number, or a CSV of dates and rates through the latest close); the run's "
            "when left out.",
            show_default=False,
        ),
    ] = None,
    date_format: DateFormatOpt = None,
) -> None:
    """Paper-trade RUN: fill the orders of the sessions the ledger has not recorded as the backtest would have, and
    record each session's book, P&L and the next session's orders (a new ledger starts with the run's cash)."""
    import warnings

    from forecasting.market.loaders import load_market_data
    from forecasting.outputs import check_out
    from live import Ledger, default_url, paper_sessions, read_run, write_day
    from live.sessions import as_of_time

    if out is not None:
        check_out(out)
    moment = as_of_time(as_of)
    folder = read_run(run)
    book = Ledger(ledger or default_url(str(folder.folder / "paper.db")))
    panel = load_market_data(data, date_format=date_format)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        days = paper_sessions(folder, panel, book, as_of=moment, rf=rf, source=str(data), on_day=print_paper_day)
    for w in caught:
        if issubclass(w.category, UserWarning):
            typer.echo(f"warning: {w.message}", err=True)
    last = days[-1]
    if not last.new and last.record is None:
        typer.echo(f"{last.date:%Y-%m-%d} is recorded already in {book.shown}: nothing changed")
    signal = last.signal
    if signal is not None:
        print_next_orders(signal)
        if signal.refit.due:
            typer.echo(f"warning: {signal.refit.sentence()}", err=True)
    if out is not None:  # the session of the data's last close (a past evening replayed: that one)
        recorded = book.days().index
        write_day(book, last.date if last.date in recorded else recorded[-1], out)
        typer.echo(f"written {out}: targets, orders and fills (.csv, .json), forecasts.csv, paper.json")


@app.command()
@_fail_cleanly
def signal(
    run: Annotated[Path, typer.Argument(help="The --out folder of a finished qtrade backtest.")],
    data: LatestDataOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for targets, orders, forecasts and signal.json.")],
    holdings: Annotated[
        Path | None,
        typer.Option(
            help="CSV of ticker,shares with a cash row: the book held at the last close; the book the backtest ended "
            "with when left out."
        ),
    ] = None,
    as_of: AsOfOpt = None,
    date_format: DateFormatOpt = None,
) -> None:
    """Tomorrow's orders: forecast the last close with RUN's saved model and apply its strategy to the book held, as
    the backtest would have; refuses stale data and a restated history."""
    import warnings

    from forecasting.market.loaders import load_market_data
    from forecasting.outputs import check_out
    from live import make_signal, read_holdings, read_run, write_signal
    from live.sessions import as_of_time

    check_out(out)
    moment = as_of_time(as_of)
    folder = read_run(run)
    book = read_holdings(holdings, folder.tickers) if holdings is not None else None
    panel = load_market_data(data, date_format=date_format)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = make_signal(folder, panel, holdings=book, as_of=moment, source=str(data))
    for w in caught:
        if issubclass(w.category, UserWarning):
            typer.echo(f"warning: {w.message}", err=True)
    if made.refit.due:
        typer.echo(f"warning: {made.refit.sentence()}", err=True)
    write_signal(made, out)
    print_signal(made, out)


@app.command()
@_fail_cleanly
def refit(
    run: Annotated[
        Path, typer.Argument(help="The --out folder of a finished qtrade backtest (or of a walk-forward forecast).")
    ],
    data: LatestDataOpt,
    as_of: AsOfOpt = None,
    device: Annotated[
        str | None,
        typer.Option(help="auto, cpu or cuda: where the networks train; the forecast run's own when left out."),
    ] = None,
    date_format: DateFormatOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train the walk-forward's next fold on the latest data, exactly as the walk-forward would have, into the
    forecast run's refits/ folder, for qtrade signal to forecast with; refuses stale data and a restated history."""
    import warnings

    from forecasting.market.loaders import load_market_data
    from live.refit import refit_on_schedule
    from live.sessions import as_of_time

    moment = as_of_time(as_of)
    panel = load_market_data(data, date_format=date_format)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        done = refit_on_schedule(run, panel, as_of=moment, device=device, source=str(data), progress=not quiet)
    for w in caught:
        if issubclass(w.category, UserWarning):
            typer.echo(f"warning: {w.message}", err=True)
    for line in done.lines():
        typer.echo(line)


@app.command()
@_fail_cleanly
def tune(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the study, best_params.json and the report.")],
    data: Annotated[
        Path | None, typer.Option(help="Data file or JPX folder; the embedded panel when left out.")
    ] = None,
    tickers: TickersOpt = None,
    n_trials: Annotated[
        int, typer.Option(help="Finished trials the study should hold (all workers together).", min=1)
    ] = 20,
    timeout: Annotated[float | None, typer.Option(help="Stop starting trials after this many seconds.")] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Optuna storage URL shared by workers (postgresql://...); a SQLite file in --out when left out."
        ),
    ] = None,
    study: Annotated[str | None, typer.Option(help="Study name; workers with the same name share trials.")] = None,
    objective: Annotated[
        str, typer.Option(help="nll or mse (forecaster, validation), or sharpe (a strategy).")
    ] = "nll",
    strategy: Annotated[
        str,
        typer.Option(
            help="The strategy tuned by --objective sharpe: a name, or PATH.py:NAME of your own (with --space)."
        ),
    ] = "kelly",
    space: Annotated[Path | None, typer.Option(help="JSON or TOML file of search ranges (see README).")] = None,
    pruner: Annotated[str, typer.Option(help="median, hyperband or none.")] = "median",
    params: Annotated[
        Path | None, typer.Option(help="JSON of fixed forecaster settings the search starts from.")
    ] = None,
    epochs: Annotated[
        int,
        typer.Option(
            help="Most epochs of a trial's training; the forecast's own default, so best_params trains as tuned.", min=1
        ),
    ] = 30,
    patience: Annotated[int, typer.Option(help="Early-stopping patience within a trial (as forecast's).", min=1)] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the sampler and of every trial's model.")] = 0,
    dist: DistOpt = None,
    ensemble: EnsembleOpt = 1,
    oos_start: OosStartOpt = None,
    refit_every: RefitEveryOpt = None,
    train_window: TrainWindowOpt = "expanding",
    val_days: ValDaysOpt = None,
    execution: Annotated[
        str | None,
        typer.Option(help="next-close (default), next-open or same-close: the fill, and so the return forecast."),
    ] = None,
    date_format: DateFormatOpt = None,
    calendar: CalendarOpt = "auto",
    threads: ThreadsOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Tune the forecaster (or a strategy) with Optuna on the validation period; the test period is never seen."""
    from forecasting.market.loaders import load_market_data
    from forecasting.pipeline import ForecastConfig
    from forecasting.preparation.execution import DEFAULT_EXECUTION

    base = ForecastConfig(
        seed=seed,
        epochs=epochs,
        patience=patience,
        execution=execution or DEFAULT_EXECUTION,
        threads=threads,
        dist=dist,
        ensemble=ensemble,
        calendar=calendar,
        oos_start=oos_start,
        refit_every=refit_every,
        train_window=train_window,
        val_days=val_days,
    )
    if params is not None:
        base = _with_params(ctx, base, params)
    source = str(data) if data else "embedded US tech panel"
    panel = load_market_data(data, tickers=tickers, date_format=date_format)
    common: dict[str, Any] = dict(
        n_trials=n_trials,
        timeout=timeout,
        storage=storage,
        space_file=space,
        seed=seed,
        source=source,
        progress=not quiet,
    )
    if objective == "sharpe":
        from backtests.tuning import tune_strategy

        record = tune_strategy(
            panel, out, strategy=strategy, base=base, study_name=study or f"qtrade-{strategy}", **common
        )
    else:
        from forecasting.tuning.search import tune_forecaster

        record = tune_forecaster(
            panel, out, base=base, objective=objective, study_name=study or "qtrade", pruner=pruner, **common
        )
    default = record.get("default_value")
    target = f" of the {record['target']}" if "target" in record else ""
    typer.echo(
        f"{record['objective']}{target}: best {record['value']:.5g} (trial {record['trial']}) against "
        f"{'-' if default is None else format(default, '.5g')} for the defaults; "
        f"{record['n_finished']} trials finished, {record['n_pruned']} pruned"
    )
    typer.echo(
        "best settings: "
        + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record["params"].items())
    )
    if "deflated_sharpe" in record:
        typer.echo(record["note"])
    typer.echo(
        f"written to {out}: best_params.json, trials.csv, tuning_report.html, charts, manifest.json"
        f"{'' if storage else ', study.db'}"
    )


@app.command()
@_fail_cleanly
def rerun(
    folder: Annotated[Path, typer.Argument(help="The --out folder of a qtrade forecast, backtest or tune.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="A new folder for the rerun.")],
) -> None:
    """Run again the command recorded in FOLDER/manifest.json and compare data, inputs and outputs; exit 1 on a
    difference."""
    from qtrade.rerun import rerun as run_again

    result = run_again(folder, out)
    for line in result.lines:
        typer.echo(line)
    if not result.same:
        typer.echo("error: the rerun differs from the recorded run (see DIFFERENT above)", err=True)
        raise typer.Exit(1)


def _with_params(ctx: typer.Context, config: Any, path: Path) -> Any:
    """``config`` with the settings of a parameters file (best_params.json records a whole configuration), where
    options given on the command line win."""
    from dataclasses import fields, replace

    def typed(name: str) -> bool:  # click's ParameterSource, by name: typer vendors click privately
        return getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"

    given = {f.name: getattr(config, f.name) for f in fields(config) if f.name in ctx.params and typed(f.name)}
    return replace(config.with_params(path), **given)


def run() -> None:
    """Entry point of the ``qtrade`` script."""
    app(prog_name="qtrade")


if __name__ == "__main__":
    run()
