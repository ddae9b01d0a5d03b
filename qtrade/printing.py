"""What the commands print: the forecast's comparison with its baselines, the backtest's summary, the strategies
compared, the data summary. Each reads the dict or object its command's library function returned; nothing here
computes a figure."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

__all__ = ["print_backtest", "print_comparison", "print_strategy_comparison", "print_summary"]


def print_backtest(stats: dict[str, Any], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.width = max(console.width, 110)
    period = stats["period"]

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x * 100:+.2f}%"

    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    mode = stats["execution"]["mode"]
    table = Table(
        "",
        "total",
        "CAGR",
        "volatility",
        "Sharpe",
        "Sortino",
        "max drawdown",
        "P(Sharpe>0)",
        title=f"{stats['strategy']} on {_count(len(period['tickers']), 'ticker')}, {stats['split']} period "
        f"{period['first_close']} to {period['last_close']}, {mode} fills"
        f"{' (optimistic)' if stats['execution']['optimistic'] else ''}",
    )
    name = str((stats.get("benchmark_source") or {}).get("name", "buy and hold"))
    for label, key in (("strategy, net", "net"), ("strategy, gross", "gross"), (name, "benchmark")):
        s = stats[key]
        table.add_row(
            label,
            pct(s["total_return"]),
            pct(s["cagr"]),
            pct(s["volatility"]),
            num(s["sharpe"]),
            num(s["sortino"]),
            pct(s["max_drawdown"]),
            pct(s["probabilistic_sharpe"]),
        )
    console.print(table)
    ex = stats["execution"]
    if ex.get("target_vol"):
        console.print(
            f"volatility: {pct(stats['net']['volatility'])} realised net against a target of "
            f"{ex['target_vol'] * 100:g}% (forecast), {ex.get('rebalance', 'daily')} decisions; turnover "
            f"{stats['turnover_annual']:.1f}x a year",
            soft_wrap=True,
        )
    paid = stats.get("half_spread_paid") or {}
    medians = {t: p for t, p in paid.items() if p.get("median_bp") is not None}
    if medians:
        shown = ", ".join(f"{t} {p['median_bp']:.1f}" for t, p in list(medians.items())[:8])
        sources = ", ".join(sorted({p["source"] for p in medians.values()}))
        more = f" and {len(medians) - 8} more" if len(medians) > 8 else ""
        console.print(f"half-spread paid, median bp per ticker ({sources}): {shown}{more}", soft_wrap=True)
    sure = stats.get("sharpe_inference") or {}
    est, diff = (sure.get("net") or {}).get("sharpe") or {}, sure.get("difference") or {}
    if "se" in est:
        b = (sure.get("benchmark") or {}).get("sharpe") or {}
        held = f"; {name} {b['sharpe']:.2f} ({b['lower']:.2f} to {b['upper']:.2f})" if "se" in b else ""
        console.print(
            f"Sharpe ratio, net {est['sharpe']:.2f}, {100 * est['level']:.3g}% interval {est['lower']:.2f} to "
            f"{est['upper']:.2f} (HAC standard error {est['se']:.2f}){held}",
            soft_wrap=True,
        )
    if "p_value" in diff:
        console.print(
            f"Sharpe difference from {name} {diff['difference']:+.2f} (standard error {diff['se']:.2f}, "
            f"Ledoit-Wolf): {diff['meaning'].rsplit(': ', 1)[-1]}",
            soft_wrap=True,
        )
    f = stats["forecast"]
    if f.get("n"):
        console.print(
            f"Forecast on these dates: MSE {f['mse'] * 1e4:.4f}e-4 vs zero {f['mse_zero'] * 1e4:.4f}e-4 "
            f"(R2 {f['r2_vs_zero'] * 100:+.2f}%), NLL {f['nll']:.4f}, 90% coverage {f['coverage_90'] * 100:.1f}%",
            soft_wrap=True,
        )
        var = [(k, v) for k, v in (f.get("var_backtests") or {}).items() if isinstance(v, dict) and "alpha" in v]
        if var:
            console.print(
                "VaR backtests of the forecast density: "
                + "; ".join(
                    f"{k} hit {v['hits']} of {v['n']} (Kupiec {_p(v['uc_p'])}, conditional coverage {_p(v['cc_p'])})"
                    for k, v in var
                    if v.get("uc_p") is not None and v.get("cc_p") is not None
                ),
                soft_wrap=True,
            )
    run = stats.get("forecast_run") or {}
    said = [run.get(k, {}).get("meaning") for k in ("diebold_mariano", "model_confidence_set")]
    if any(said):
        period = run.get("period", {})
        walk = run.get("walk_forward")
        folds = (
            f" The LSTM was ahead of {run.get('models', {}).get(walk['opponent'], walk['opponent'])} in "
            f"{walk['lstm_ahead_in']} of {walk['of_folds']} walk-forward folds."
            if walk and walk.get("opponent")
            else ""
        )
        console.print(
            f"Beside the baselines, over the forecast run's {period.get('first_date')} to {period.get('last_date')}: "
            + " ".join(m for m in said if m)
            + folds,
            soft_wrap=True,
            highlight=False,
        )
    if stats.get("jpx", {}).get("score") is not None:
        console.print(f"JPX score {stats['jpx']['score']:.3f} (daily spread mean / sd; the competition winner: 0.381)")
    console.print(
        f"Turnover {stats['turnover_annual']:.1f}x a year (one-way), costs {stats['costs_total'] * 100:.2f}% "
        f"in all, {stats['fills']} fills ({stats['partial_fills']} in part); numpy replay differs by at "
        f"most {stats['vectorised_check_bp_per_day'] or 0:.2g} bp on a day",
        soft_wrap=True,
    )
    files = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    console.print(f"Written to {out}: {', '.join(files)}", soft_wrap=True)
    console.print(f"Open {out / 'tearsheet.html'} in a browser for the full report.", soft_wrap=True, highlight=False)


def print_strategy_comparison(comparison: Any) -> None:
    """The table of ``qtrade backtest --strategy all``, the SPA test's sentence and where the files are."""
    from rich.console import Console
    from rich.table import Table

    from backtests.comparison import comparison_rows, headers

    console = Console()
    console.width = max(console.width, 130)
    first = next(iter(comparison.runs.values())).stats
    period = first["period"]
    n = len(comparison.runs)
    table = Table(
        *headers(str((first.get("benchmark_source") or {}).get("name", "buy and hold"))),
        title=f"{n} strateg{'y' if n == 1 else 'ies'} on the same forecasts, {first['split']} period "
        f"{period['first_close']} to {period['last_close']}, {first['execution']['mode']} fills",
    )
    for row in comparison_rows(comparison.table):
        table.add_row(*row)
    console.print(table)
    spa = comparison.spa
    console.print(spa.get("meaning") or f"No SPA test: {spa.get('absent')}", soft_wrap=True)
    for name, reason in comparison.failed.items():
        typer.echo(f"warning: {name} did not run: {reason}", err=True)
    out = comparison.out
    console.print(
        f"Written to {out}: comparison.csv, comparison.json, comparison.html, manifest.json, and each strategy's "
        f"outputs in {', '.join(f'{n}/' for n in comparison.runs)}",
        soft_wrap=True,
        highlight=False,
    )


def print_comparison(metrics: dict[str, Any], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from forecasting.evaluation.scoring import comparison_rows

    console = Console()
    console.width = max(console.width, 120)
    test = metrics["test"]
    table = Table(
        "model",
        "MSE x1e4",
        "R2 vs 0",
        "NLL",
        "CRPS x1e2",
        "90% cover",
        "QLIKE",
        "direction",
        title=f"{'Out of sample' if 'walk_forward' in metrics else 'Test block'} {test['first_date']} to "
        f"{test['last_date']}: {test['n']} forecasts, same dates for every model"
        + (f" (target: {metrics['target']})" if "target" in metrics else ""),
    )
    for row in comparison_rows(metrics, "test"):
        table.add_row(*row)
    console.print(table)
    walk = metrics.get("walk_forward")
    if walk:
        gaps = ", ".join(f"{f['refit']} {f['lstm_minus_best_baseline']:+.3f}" for f in walk["folds"] if "nll" in f)
        labels = metrics["models"]
        against = labels.get(walk.get("opponent"), "each fold's best baseline")
        console.print(
            f"Walk-forward: {len(walk['folds'])} folds, {walk['schedule']}; the LSTM's log score beat {against} in "
            f"{walk['lstm_ahead_in']} of {walk['of_folds']} folds. LSTM NLL minus the fold's best baseline's, by "
            f"refit: {gaps}",
            highlight=False,
            soft_wrap=True,
        )
    left = metrics.get("left_out", {}).get("test")
    if left:
        tickers = ", ".join(f"{t} {n}" for t, n in list(left["tickers"].items())[:8])
        lacking = ", ".join(
            f"{labels_of.get(m, m)} {n}"
            for m, n in left["without_forecast"].items()
            for labels_of in [metrics["models"]]
        )
        console.print(
            f"Left out of every model's score: {left['rows']} of {left['of']} test rows with a realised return, "
            f"{len(left['tickers'])} ticker{'s' if len(left['tickers']) != 1 else ''} ({tickers}"
            f"{' ...' if len(left['tickers']) > 8 else ''}), for want of a forecast from {lacking} (a baseline needs "
            "100 real training returns of a ticker); left_out in metrics.json",
            soft_wrap=True,
        )
    dm = test["diebold_mariano"]
    labels = metrics["models"]
    console.print(
        f"Diebold-Mariano (HLN), {labels[dm['model']]} vs {labels[dm['against']]} (best baseline by NLL on the "
        f"{'validation' if dm.get('chosen_on') == 'val' else 'test'} block): NLL stat {dm['nll']['statistic']:+.2f} "
        f"({_p(dm['nll']['p_value'])}), squared error stat {dm['squared_error']['statistic']:+.2f} "
        f"({_p(dm['squared_error']['p_value'])}); negative favours the LSTM; every baseline's test in metrics.json"
        + (f". {dm['meaning']}" if "meaning" in dm else ""),
        soft_wrap=True,
    )
    mcs = test.get("model_confidence_set")
    if mcs and "absent" in mcs:
        console.print(f"Model confidence set: none ({mcs['absent']})", soft_wrap=True)
    elif mcs:
        how = mcs["settings"]
        console.print(
            f"Model confidence set (Hansen-Lunde-Nason, log score, {how['reps']} stationary-bootstrap draws, block "
            f"{how['block_size']} days): {mcs['meaning']} MCS p: "
            + ", ".join(f"{labels.get(m, m)} {p:.3f}" for m, p in mcs["pvalues"].items()),
            soft_wrap=True,
        )
    var = test.get("var_backtests")
    if var:
        tested = [m for m in labels if m in var]
        hit_rates = ", ".join(
            f"{labels[m]} " + " / ".join(f"{100 * var[m][a]['hit_rate']:.1f}%" for a in ("0.01", "0.05"))
            for m in tested
        )
        fives = {m: var[m]["0.05"] for m in tested}

        def failing(key: str) -> str:
            out = [labels[m] for m, r in fives.items() if r[key] is not None and r[key] < var["significance"]]
            return ", ".join(out) or "none"

        console.print(
            f"VaR backtests, pooled over tickers: hit rate at 1% / 5%: {hit_rates}. Failing at the 5% VaR (p < "
            f"{var['significance']}): Kupiec: {failing('uc_p')}; Christoffersen independence: {failing('ind_p')}; "
            f"conditional coverage: {failing('cc_p')}. Every test and its sentence in metrics.json",
            soft_wrap=True,
        )
    shrunk = metrics.get("mean_shrinkage", {})
    if "test" in shrunk:
        how = {
            "auto": "chosen by the validation NLL of 0, 0.1, ..., 1",
            "none": "--mean-shrinkage none",
            "fixed": "given",
        }.get(shrunk["mode"], shrunk["mode"])
        before, after = shrunk["test"]["unshrunk"], shrunk["test"]["shrunk"]
        console.print(
            f"Mean shrinkage: the LSTM's mean x {shrunk['factor']:.1f} ({how}"
            f"{', from the checkpoint' if shrunk.get('from') else ''}); on the test block NLL {before['nll']:.4f} -> "
            f"{after['nll']:.4f}, R2 vs 0 {before['r2_vs_zero'] * 100:+.2f}% -> {after['r2_vs_zero'] * 100:+.2f}%",
            soft_wrap=True,
        )
    if "ensemble" in test:
        e = test["ensemble"]
        console.print(
            f"Ensemble of {e['members']}: NLL {e['ensemble_nll']:.4f} against {e['mean_member_nll']:.4f} for "
            f"its average member (best member {e['best_member_nll']:.4f})",
            soft_wrap=True,
        )
    cs = test.get("cross_section", {})
    if cs.get("absent"):
        console.print(f"Cross-section: none ({cs['absent']})", soft_wrap=True)
    elif cs:

        def fig(x: float | None, spec: str) -> str:
            return "-" if x is None else format(x, spec)

        console.print(
            f"Cross-section of the LSTM mean over {cs['n_dates']} dates: IC {fig(cs['ic']['mean'], '+.4f')} "
            f"(ICIR {fig(cs['ic']['icir'], '+.3f')}, t {fig(cs['ic']['t_stat'], '+.2f')}), rank IC "
            f"{fig(cs['rank_ic']['mean'], '+.4f')} (t {fig(cs['rank_ic']['t_stat'], '+.2f')}), top-minus-bottom "
            f"quintile {fig(None if cs['spread']['mean'] is None else cs['spread']['mean'] * 1e4, '+.2f')} bp a day "
            f"(t {fig(cs['spread']['t_stat'], '+.2f')})",
            soft_wrap=True,
        )
    price = test["price_level_mse"]
    console.print(
        f"Price-level MSE (flatters any model): LSTM {price['lstm']:.4f} vs persistence {price['persistence']:.4f}",
        soft_wrap=True,
    )
    files = sorted(p.name for p in out.iterdir() if p.is_file() and not p.name.startswith("."))
    console.print(f"Written to {out}: {', '.join(files)}", soft_wrap=True)


def _count(n: int, noun: str) -> str:
    """``1 ticker``, ``4 tickers``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _p(p: float) -> str:
    """A p-value as people read it: p<0.001 rather than p=0.000."""
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def _estimated(row: Any) -> str:
    bps = float(row.get("half_spread_bps", float("nan")))
    return "too short" if math.isnan(bps) else f"{bps:.1f} bp ({row['spread_method']})"


def print_summary(summary: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    s = summary
    console.print(f"[bold]{s.source}[/bold]", soft_wrap=True)
    days = f"{s.calendar} sessions" if s.calendar else "days with a price"
    console.print(
        f"{_count(s.n_tickers, 'ticker')}, {s.first_date:%Y-%m-%d} to {s.last_date:%Y-%m-%d}, "
        f"{s.n_dates:,} trading days "
        f"({days}), {s.rows:,} rows in the data",
        soft_wrap=True,
    )
    console.print(
        f"{s.ticker_days:,} ticker-days from each ticker's first to last price, {s.filled_rows:,} of them filled "
        f"by interpolation",
        soft_wrap=True,
    )
    console.print(
        f"{s.repaired:,} values repaired by interpolation, {s.unbridged:,} values left missing (gaps too long), "
        f"{s.closed_dates} market-wide empty days dropped",
        soft_wrap=True,
    )
    if s.calendar:
        gone = s.missing_sessions
        listed = ", ".join(f"{d:%Y-%m-%d}" for d in gone[:5]) + (" ..." if len(gone) > 5 else "")
        console.print(
            f"{s.calendar}: {len(gone)} session(s) with no price in the data"
            + (f" ({listed}), gaps like any other" if len(gone) else ""),
            soft_wrap=True,
        )
    table = Table("ticker", "first", "last", "rows", "days", "filled days", "missing closes")
    per = s.per_ticker
    shown = per if len(per) <= 20 else per.head(20)
    for ticker, row in shown.iterrows():
        table.add_row(
            str(ticker),
            f"{row['first']:%Y-%m-%d}",
            f"{row['last']:%Y-%m-%d}",
            str(row["rows"]),
            str(row["days"]),
            str(row["filled"]),
            str(row["missing_close"]),
        )
    console.print(table)
    if "half_spread_bps" in per.columns:
        listed = ", ".join(f"{t} {_estimated(row)}" for t, row in shown.iterrows())
        console.print(
            f"bid-ask half-spread estimated from each ticker's own prices, median of its last year: {listed}"
            f"{' ...' if len(per) > 20 else ''} (edge: from open, high, low and close; roll: closes only; what "
            "qtrade backtest --spread auto charges, at least --half-spread-bps, when the data has no spread column)",
            soft_wrap=True,
        )
    if len(per) > 20:
        console.print(f"... and {len(per) - 20} more tickers")
    suspects = s.suspect_splits
    for row in suspects.head(10).itertuples():
        typer.echo(
            f"warning: {row.ticker} on {row.date:%Y-%m-%d}: close x{row.ratio:.3f} in one day, as an unadjusted "
            f"{row.split} split would move it; check the split adjustment unless the move is real",
            err=True,
        )
    if len(suspects):
        listed = " (the first 10 listed)" if len(suspects) > 10 else ""
        typer.echo(f"warning: {len(suspects)} suspected unadjusted split(s){listed}", err=True)


def _orders_table(signal: Any) -> Any:
    """The orders of a signal as a rich table."""
    from rich.table import Table

    info = signal.summary()
    orders = signal.orders
    table = Table(
        "ticker",
        "side",
        "shares",
        "order type",
        "share limit",
        "at close",
        "value",
        title=f"{info['strategy']} at the close of {info['date']}: {len(orders)} order"
        f"{'s' if len(orders) != 1 else ''}, filled {info['fill']}",
    )
    for row in orders.itertuples(index=False):
        limit = "" if math.isnan(row.share_limit) else f"{row.share_limit:,.0f}"
        table.add_row(
            str(row.ticker),
            row.side,
            f"{row.shares:,.2f}",
            row.order_type,
            limit,
            f"{row.price:,.4g}",
            f"{row.value:,.0f}",
        )
    return table


def print_signal(signal: Any, out: Path) -> None:
    """The orders of ``qtrade signal`` as a table, the book they lead to in one line, and where the files are."""
    from rich.console import Console

    console = Console()
    console.width = max(console.width, 100)
    info = signal.summary()
    console.print(_orders_table(signal))
    targets = signal.targets
    kept = int((~targets["decided"]).sum())
    console.print(
        f"Equity {info['equity']:,.0f}; gross exposure after the orders {info['gross']:.2f}; {kept} of "
        f"{len(targets)} tickers kept by the rule. Model: {signal.refit.sentence()}. Written to {out}: "
        "targets.csv, orders.csv (and .json), forecasts.csv, signal.json",
        soft_wrap=True,
        highlight=False,
    )


def print_paper_day(day: Any) -> None:
    """One line for a session ``qtrade paper`` recorded: its fills, costs, P&L and equity, and the next session's
    orders."""
    record = day.record
    if record is None:
        return
    if not day.new:
        typer.echo(f"{day.date:%Y-%m-%d}: recorded meanwhile by another run; taken as it recorded it")
        return
    pnl = "the first session (its return is counted in the next)" if record.net is None else f"{record.net:+.4%}"
    same = day.signal is not None and day.signal.run.execution.mode == "same-close"
    typer.echo(
        f"{day.date:%Y-%m-%d}: {len(record.fills)} fills, costs {record.fill_costs + record.holding:,.2f}, "
        f"interest earned {0.0 - record.interest + 0.0:+,.2f}, return {pnl}, equity {record.equity:,.2f}; "
        + (
            f"its {len(record.orders)} orders filled at this close (same-close)"
            if same
            else f"{len(record.orders)} orders for the next session"
        )
    )


def print_next_orders(signal: Any) -> None:
    """The orders a paper session left for the next one, as a table, and the model's refit status."""
    from rich.console import Console

    console = Console()
    console.width = max(console.width, 100)
    console.print(_orders_table(signal))
    console.print(f"Model: {signal.refit.sentence()}.", soft_wrap=True, highlight=False)


def print_ledger_report(report: dict[str, Any], out: Path) -> None:
    """The paper ledger's report in a few lines: its sessions, its Sharpe ratio against the backtest's, the
    expectation's tracking error and where the files are."""
    typer.echo(
        f"{report['strategy']} paper ledger: {report['sessions']} sessions from {report['start']}, total return "
        f"{report['total_return']:+.2%}"
    )
    verdict = report["against_backtest"]
    typer.echo(verdict.get("meaning", verdict.get("absent", "")))
    ex = report["expectation"]
    typer.echo(ex.get("meaning", ex.get("absent", "")))
    for row in report["differences"][:10]:
        typer.echo(f"  {str(row['date'])[:10]}: {row['why']}")
    typer.echo(f"written {out}: tearsheet.html, returns.csv, fills.csv, differences.csv, report.json")
