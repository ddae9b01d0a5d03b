"""The tearsheet: QuantStats' HTML report with qtrade's forecast section in the same page.

QuantStats has no hook for extra sections, so the written page gets two insertions: a summary table at the top
of the right-hand column (before ``<div id="eoy">``, which the default template holds once) and a full-width
forecast section after both columns. Everything is inline (SVG and base64 PNG); nothing touches the network:
the benchmark is a Series, never a ticker QuantStats would try to download, and ``offline_page`` takes out the
template's outside links (a favicon, QuantStats' site) and its ``onload="save()"``, a script error in every
browser since the template defines no ``save``. ``backtests.quantstats_fixes`` (imported before QuantStats
draws) fixes what QuantStats 0.0.86 gets wrong under pandas 3 (its docstring lists each chart and metrics row),
and gives the "Worst 10 Drawdowns" table that ``drawdown_section`` puts in place of QuantStats' own, which dates
a recovery for a drawdown still under water. The header and the forecast section state the period in the same
words (``period_words``): the days of the returns, each dated by the close it ends at. A strategy that never
traded gets ``no_trades_page``: QuantStats raises on a return series that never moves.

Under the summary, "How sure is this?" (``certainty_section``) gives the net Sharpe ratio and buy and hold's with
their standard errors and 95% intervals, the probabilistic Sharpe ratios, the minimum track record lengths and
the Ledoit-Wolf test of the difference, each with its sentence (``stats.json``'s ``sharpe_inference``).

The forecast section (``forecast_section``) shows the LSTM's accuracy on the traded period with its own density
(Student-t where the forecasts carry degrees of freedom), the value-at-risk backtests of that density at 1% and
5% (``var_section``), the forecast run's verdicts against the baselines over its whole test block or
out-of-sample period (``forecast_run_section``: the headline Diebold-Mariano test, the model confidence set, the
walk-forward folds the LSTM won; ``stats.json``'s ``forecast_run``), every baseline of the forecast run beside
it on the traded dates with the headline Diebold-Mariano test against the baseline chosen on the validation block,
calibration, and the cross-section (``cross_section_section``): IC, rank IC, quintile returns and the JPX
competition score, recomputed on the traded period, beside the forecast run's test block.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from backtests.verdict_sections import (
    _day,
    _dm_table,
    _dm_words,
    _num,
    _pct,
    _table,
    certainty_section,
    forecast_run_section,
    p_value,
    var_section,
)
from forecasting.atomic import atomic_path
from forecasting.errors import QtradeError

__all__ = [
    "ReportInputs",
    "calendar_note",
    "certainty_section",
    "cross_section_section",
    "drawdown_section",
    "forecast_run_section",
    "forecast_section",
    "no_trades_page",
    "offline_page",
    "p_value",
    "period_words",
    "var_section",
    "write_tearsheet",
]

RIGHT_ANCHOR = '<div id="eoy">'
END_ANCHOR = "<style>*{white-space:auto !important;}</style>"
SECTION_MARK = "<!-- qtrade forecast section -->"
ROLLING_IC_DAYS = 21


class ReportInputs:
    """What a tearsheet is built from; all of it lies in a backtest folder, so ``qtrade report`` can rebuild it.

    ``cross_section`` holds the daily cross-sectional series of the traded period (``cross_section.csv``:
    ic, rank_ic, spread by origin date), None when the panel has too few tickers for them.
    """

    def __init__(
        self,
        returns: pd.DataFrame,
        stats: dict[str, Any],
        deciles: pd.DataFrame,
        forecast_metrics: dict[str, Any] | None,
        training_curve: bytes | None,
        *,
        cross_section: pd.DataFrame | None = None,
    ) -> None:
        self.returns = returns
        self.stats = stats
        self.deciles = deciles
        self.forecast_metrics = forecast_metrics
        self.training_curve = training_curve
        self.cross_section = cross_section


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _same_dates(stats: dict[str, Any], metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    """The forecast run's block for the traded split, when it covers the same dates; else None."""
    if not metrics:
        return None
    block = metrics.get(stats["split"])
    if not isinstance(block, dict) or "overall" not in block:
        return None
    period = stats["period"]
    if block.get("first_date") != period["first_close"]:
        return None
    return block


def summary_table(inputs: ReportInputs) -> str:
    """The short table at the top of the right-hand column."""
    s = inputs.stats
    f = s["forecast"]
    rows = [
        ["Forecast MSE (x1e4)", _num(f.get("mse") and f["mse"] * 1e4), _num(f.get("mse_zero") and f["mse_zero"] * 1e4)],
        ["Out-of-sample R2", _pct(f.get("r2_vs_zero")), "0.00%"],
        [f"NLL ({_density_name(f)})", _num(f.get("nll")), "-"],
        ["90% interval coverage", _pct(f.get("coverage_90"), 1), "-"],
        ["Sharpe, gross of costs", _num(s["gross"]["sharpe"], ".2f"), _num(s["benchmark"]["sharpe"], ".2f")],
        ["Sharpe, net of costs", _num(s["net"]["sharpe"], ".2f"), _num(s["benchmark"]["sharpe"], ".2f")],
        [
            "Probabilistic Sharpe",
            _pct(s["net"]["probabilistic_sharpe"], 1),
            _pct(s["benchmark"]["probabilistic_sharpe"], 1),
        ],
        ["Turnover, one-way (a year)", f"{s['turnover_annual']:.1f}x", "-"],
        ["Costs paid (sum of daily shares)", _pct(s["costs_total"]), "0.00%"],
    ]
    jpx = s.get("jpx")
    if jpx:
        rows.append(
            [
                "JPX score (daily spread mean / sd)",
                _num(jpx.get("score"), ".3f"),
                f"{jpx.get('winner_score', 0.381):.3f} (winner)",
            ]
        )
    head = ["Forecast and costs", "Strategy", "Zero / benchmark"]
    return (
        f"<h3>Execution and costs</h3><p>{html.escape(execution_words(s))}</p><h3>Forecast and costs</h3>"
        f"{_table(head, rows)}"
    )


def calendar_note(returns: pd.Series) -> str:
    """The line under the metrics table saying which calendar periods its month, quarter and year rows count."""
    from backtests.quantstats_fixes import whole_periods

    spans = []
    for freq, name in (("M", "month"), ("Q", "quarter"), ("Y", "year")):
        whole = whole_periods(returns, freq).index
        label = (lambda q: q.strftime("%b %Y")) if freq == "M" else str
        spans.append(
            f"no whole {name}"
            if not len(whole)
            else f"{name} {label(whole[0])}"
            if len(whole) == 1
            else f"{name}s {label(whole[0])} to {label(whole[-1])}"
        )
    return (
        '<p id="qtrade-calendar-note" style="margin-top:-30px;color:grey">Month, quarter and year rows count '
        f"whole calendar periods only: here {html.escape(', '.join(spans))}. The EOY table and chart, the heatmap "
        "and the return distributions show the partial first and last ones too.</p>"
    )


def subtitle_parameters(stats: dict[str, Any]) -> dict[str, str]:
    """The execution mode and the cost settings, for the line under the tearsheet's title."""
    ex = stats.get("execution", {})
    if "mode" not in ex:
        return {}
    return {
        "Execution": html.escape(ex["mode"] + (" (optimistic)" if ex.get("optimistic") else "")),
        "Costs": (
            f"commission {ex['commission_bps']:g} bp, {half_spread_words(ex)}, impact "
            f"{ex['impact']:g}, volume cap {ex['participation'] * 100:g}%, borrow {ex['borrow'] * 100:g}%, "
            f"financing {ex['financing'] * 100:g}%"
        ),
    }


def half_spread_words(ex: dict[str, Any]) -> str:
    """The half-spread setting in a few words (``--spread``; runs of an older qtrade paid the flat one).

    >>> half_spread_words({"half_spread_bps": 2.0, "spread": "auto"})
    'half-spread from the data or estimated from prices (at least 2 bp)'
    """
    bps = ex["half_spread_bps"]
    return {
        "auto": f"half-spread from the data or estimated from prices (at least {bps:g} bp)",
        "column": f"half-spread from the data's spread column ({bps:g} bp where it has none)",
    }.get(ex.get("spread", "flat"), f"half-spread {bps:g} bp")


def spread_table(stats: dict[str, Any]) -> str:
    """A small table of the half-spread each ticker's fills paid and where it came from (empty for runs of an
    older qtrade, whose stats.json has no ``half_spread_paid``)."""
    paid = stats.get("half_spread_paid")
    if not paid:
        return ""

    def bp(x: Any) -> str:
        return "-" if x is None else f"{x:.1f}"

    rows = "".join(
        f"<tr><td>{html.escape(str(t))}</td><td>{html.escape(str(p['source']))}</td><td>{bp(p['median_bp'])}</td>"
        f"<td>{bp(p['min_bp'])} to {bp(p['max_bp'])}</td><td>{p['fills']}</td></tr>"
        for t, p in list(paid.items())[:30]
    )
    more = f"<p>... and {len(paid) - 30} more tickers in stats.json.</p>" if len(paid) > 30 else ""
    return (
        '<div id="qtrade-spreads"><h3>Half-spread paid, bp of the traded value</h3><table>'
        "<thead><tr><th>ticker</th><th>source</th><th>median</th><th>range</th><th>fills</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{more}</div>"
    )


def execution_words(stats: dict[str, Any]) -> str:
    """One sentence naming the execution mode and every cost setting of a run."""
    ex = stats.get("execution", {})
    if "mode" not in ex:
        return "Execution not recorded (a backtest of an older qtrade)."
    warn = (
        " OPTIMISTIC: it fills at the close the forecast was computed from, which no real order can."
        if ex.get("optimistic")
        else ""
    )
    return (
        f"Execution {ex['mode']}: {ex['fill']}; the position holds the {ex['holds']}.{warn} Costs: commission "
        f"{ex['commission_bps']:g} bp, {half_spread_words(ex)}, square-root impact "
        f"{ex['impact']:g} x daily vol x sqrt(value / ADV), at most {ex['participation'] * 100:g}% of a bar's "
        f"volume, borrow {ex['borrow'] * 100:g}% and financing {ex['financing'] * 100:g}% a year, "
        f"delisting return {ex['delisting_return'] * 100:g}%.{sizing_words(ex)}"
    )


def sizing_words(ex: dict[str, Any]) -> str:
    """How often the rule decided and the volatility its book was scaled to, when not the defaults."""
    words = []
    if ex.get("rebalance", "daily") != "daily":
        words.append(f"The rule decided {ex['rebalance']} (the first close of each period), keeping positions between")
    if ex.get("target_vol"):
        words.append(
            f"every book was scaled to a forecast volatility of {ex['target_vol'] * 100:g}% a year "
            f"(gross exposure at most {ex['max_gross']:g})"
        )
    if not words:
        return ""
    text = "; ".join(words)
    return " " + text[0].upper() + text[1:] + "."


def period_words(inputs: ReportInputs) -> str:
    """The period the page reports, one convention everywhere: the days of the returns, each dated by its close.

    A return dated *d* is earned from the close before *d* to the close of *d*, so the first return is dated the
    day after the first decision's close; when that close is known and earlier, the words say so.
    """
    index = inputs.returns.index
    if not len(index):
        return "no returns"
    words = f"returns dated {_day(index[0])} to {_day(index[-1])}"
    first_close = inputs.stats.get("period", {}).get("first_close")
    if first_close and pd.Timestamp(first_close) < index[0]:
        words += (
            f", each by the close it ends at (the first is earned from the close of {_day(first_close)}, "
            "where the first decision was made)"
        )
    return words


def _density_name(f: dict[str, Any]) -> str:
    """The density that scored the traded period's forecasts, in a few words (older stats.json: normal)."""
    return {"student-t": "Student-t", "mixed": "Student-t and normal"}.get(str(f.get("density")), "normal")


def _lstm_label(inputs: ReportInputs) -> str:
    """The LSTM's name as the forecast run gives it (``metrics["models"]["lstm"]``: its density, its seeds)."""
    label = ((inputs.forecast_metrics or {}).get("models") or {}).get("lstm")
    if label:
        return str(label)
    return f"LSTM-MLE ({_density_name(inputs.stats['forecast'])})"


def _ensemble_members(metrics: dict[str, Any] | None) -> int:
    """The number of seeds of the forecast run's ensemble (its blocks' ``ensemble``), 0 for a single network."""
    blocks = [b for b in (metrics or {}).values() if isinstance(b, dict) and isinstance(b.get("ensemble"), dict)]
    return int(blocks[0]["ensemble"].get("members", 0)) if blocks else 0


def forecast_section(inputs: ReportInputs) -> str:
    """The full-width forecast section: accuracy beside baselines, calibration, convergence, cross-section, profit
    by confidence."""
    from forecasting.evaluation.plots import pit_figure
    from forecasting.evaluation.scoring import comparison_rows

    s, f = inputs.stats, inputs.stats["forecast"]
    made = (
        f"at the closes from {_day(f['first_origin'])} to {_day(f['last_origin'])}"
        if f.get("first_origin")
        else "in it"
    )
    density = f.get("density_words", "normal")
    members = _ensemble_members(inputs.forecast_metrics)
    if members and f.get("density", "normal") == "normal":
        density += (
            f", with the mean and variance of the {members}-seed ensemble's mixture (the forecasts file "
            "holds the mixture's moments, not its members; the forecast run's table below scores the "
            "mixture itself)"
        )
    parts = [
        SECTION_MARK,
        '<div style="clear:both"></div><hr>',
        "<h1>The forecast behind the trades</h1>",
        f"<h4>The {html.escape(s['split'])} period, as in the header: {html.escape(period_words(inputs))}. "
        f"{f.get('n', 0)} forecasts with a known target were made {made}; each is the mean and variance of "
        f"the {html.escape(s.get('execution', {}).get('holds', 'log return from one close to the next'))}, the "
        f"return the strategy holds ({html.escape(s.get('execution', {}).get('mode', 'same-close'))} "
        "fills).</h4><br>",
    ]
    lstm = _lstm_label(inputs)
    rows = [
        [
            lstm,
            _num(f.get("mse") and f["mse"] * 1e4),
            _pct(f.get("r2_vs_zero")),
            _num(f.get("nll")),
            _pct(f.get("coverage_90"), 1),
            _pct(f.get("coverage_95"), 1),
            _pct(f.get("directional_accuracy"), 1),
        ],
        ["Zero forecast", _num(f.get("mse_zero") and f["mse_zero"] * 1e4), "0.00%", "-", "-", "-", "-"],
    ]
    parts.append("<h3>Accuracy on the traded period</h3>")
    parts.append(_table(["model", "MSE x1e4", "R2 vs zero", "NLL", "90% cover", "95% cover", "direction"], rows))
    parts.append(
        f"<p>NLL, interval coverage and the PIT are those of each forecast's own predictive density: "
        f"{html.escape(density)}.</p>"
    )
    parts.append(var_section(f))
    parts.append(forecast_run_section(s, inputs.forecast_metrics))
    block = _same_dates(s, inputs.forecast_metrics)
    hists = {lstm: f["pit_histogram"]} if f.get("pit_histogram") else {}
    if block is not None:
        metrics = inputs.forecast_metrics or {}
        labels = {k: str(v) for k, v in metrics.get("models", {}).items()}
        parts.append("<h3>Beside the baselines, same dates (from the forecast run)</h3>")
        parts.append(
            _table(
                ["model", "MSE x1e4", "R2 vs 0", "NLL", "CRPS x1e2", "90% cover", "QLIKE", "direction"],
                comparison_rows(metrics, s["split"]),
            )
        )
        parts.append(
            "<p>Each model is scored with its own predictive density (the Student-t baselines with theirs, "
            "an ensemble with the equal mixture of its members), on the (ticker, day) pairs where every "
            "model has a forecast.</p>"
        )
        dm = block.get("diebold_mariano")
        if dm:
            parts.append(_dm_words(dm, labels, s["split"]))
        ens = block.get("ensemble")
        if ens:
            parts.append(
                f"<p>Ensemble of {ens['members']} seeds: the mixture's NLL {ens['ensemble_nll']:.4f} "
                f"against {ens['mean_member_nll']:.4f} for the average member alone (best member "
                f"{ens['best_member_nll']:.4f}), a gain of {ens['gain_over_mean_member']:+.4f} nats a "
                "forecast.</p>"
            )
        parts.append(_dm_table(block, labels))
        hists = {labels.get(m, m): sc["pit_histogram"] for m, sc in block["overall"].items()}
    else:
        parts.append(
            "<p>Baselines: the forecast run's metrics.json for these dates was not found, so only the zero "
            "forecast stands beside the model here.</p>"
        )
    if hists:
        parts.append("<h3>Calibration</h3>")
        parts.append(_svg(pit_figure(hists, title="PIT of the forecasts: flat at 1 when the variance is right")))
    if inputs.training_curve:
        data = base64.b64encode(inputs.training_curve).decode("ascii")
        parts.append("<h3>Training convergence</h3>")
        parts.append(f'<img alt="training curve" src="data:image/png;base64,{data}">')
    parts.append(cross_section_section(inputs))
    if len(inputs.deciles):
        parts.append("<h3>Profit by decile of forecast confidence |mean| / sd</h3>")
        parts.append(_svg(_deciles_figure(inputs.deciles)))
        d = inputs.deciles
        parts.append(
            _table(
                ["decile", "|mean|/sd from", "to", "forecasts", "hit rate", "signed return (bp)", "strategy profit"],
                [
                    [
                        str(int(r.decile)),
                        f"{r.conf_from:.3f}",
                        f"{r.conf_to:.3f}",
                        str(int(r.n)),
                        _pct(r.hit_rate, 1),
                        f"{r.signed_return_bp:+.2f}",
                        f"{r.profit_pct:+.2f}%",
                    ]
                    for r in d.itertuples()
                ],
            )
        )
        parts.append(
            "<p>Signed return: the held return (the forecast's target) in the direction the forecast "
            "pointed, whatever the strategy held. Strategy profit: the weight decided on those (ticker, "
            "day) pairs times the return it holds, gross of costs, in % of equity.</p>"
        )
    check = s.get("vectorised_check_bp_per_day")
    parts.append(
        f"<p>Checks: {s['fills']} fills, {s['rejected_orders']} orders rejected, "
        f"{s.get('partial_fills', 0)} filled in part (volume cap), {s['unusable_forecasts']} forecasts "
        "unusable (no trade on those); an independent numpy replay of the decisions, with every cost, "
        f"differs from backtrader by at most {_num(check, '.2g')} bp on any day.</p>"
    )
    return "\n".join(parts)


_CROSS_ROWS = [
    ("IC (Pearson), mean across dates", ("ic", "mean"), ".4f"),
    ("IC, standard deviation across dates", ("ic", "std"), ".4f"),
    ("ICIR (mean / sd)", ("ic", "icir"), ".3f"),
    ("IC t-statistic (ICIR x sqrt(dates))", ("ic", "t_stat"), ".2f"),
    ("Rank IC (Spearman), mean across dates", ("rank_ic", "mean"), ".4f"),
    ("Rank IC, standard deviation across dates", ("rank_ic", "std"), ".4f"),
    ("Rank ICIR (mean / sd)", ("rank_ic", "icir"), ".3f"),
    ("Rank IC t-statistic (ICIR x sqrt(dates))", ("rank_ic", "t_stat"), ".2f"),
    ("Top-minus-bottom quintile spread, mean (bp a day)", ("spread", "mean"), "bp"),
    ("Spread t-statistic (mean / sd x sqrt(dates))", ("spread", "t_stat"), ".2f"),
    ("Rank autocorrelation of the forecast, day to day", ("rank_autocorrelation", "mean"), ".3f"),
    ("JPX score of the forecast (daily spread mean / sd)", ("jpx", "score"), ".3f"),
]


def _cross_cell(summary: dict[str, Any], key: tuple[str, str], fmt: str) -> str:
    value = (summary.get(key[0]) or {}).get(key[1])
    if value is None:
        return "-"
    return f"{value * 1e4:+.2f}" if fmt == "bp" else format(value, fmt)


def _cross_dates(summary: dict[str, Any]) -> str:
    return f"{summary.get('n_dates', 0)} (median {summary.get('median_tickers', 0):g} tickers)"


def cross_section_section(inputs: ReportInputs) -> str:
    """Does the forecast rank the tickers of each day? IC, rank IC, quintile returns, rank autocorrelation, and the
    JPX competition score of ``longshort``; for a panel under 5 tickers, why there are none.

    The figures are recomputed on the traded period (``stats["cross_section"]``, from the backtest's forecasts
    and the returns they hold; the daily series from ``cross_section.csv``), beside the forecast run's own
    figures for its block of the same split (``metrics.json``) when that block starts on the same date.
    """
    s = inputs.stats
    summary = s.get("cross_section")
    parts = ['<div id="qtrade-cross-section">', "<h3>Ranking across tickers (cross-section)</h3>"]
    n_tickers = len(s.get("period", {}).get("tickers", []))
    if summary is None:
        parts.append(
            "<p>Cross-sectional figures were not recorded (a backtest of an older qtrade); run qtrade "
            "backtest again for them.</p>"
        )
    elif summary.get("absent") is not None:
        need = summary.get("min_tickers", 5)
        parts.append(
            f'<p id="qtrade-cross-section-absent">No cross-sectional figures (IC, rank IC, quintile '
            f"returns): the backtest traded {n_tickers} ticker{'s' if n_tickers != 1 else ''}, and they "
            f"need at least {need} with a forecast and a realised return on most days, one for each "
            f"quintile (here: {html.escape(str(summary['absent']))}).</p>"
            if str(summary["absent"]).startswith("fewer than")
            else f'<p id="qtrade-cross-section-absent">No cross-sectional figures: '
            f"{html.escape(str(summary['absent']))}.</p>"
        )
    else:
        parts.extend(_cross_section_body(inputs, summary))
    jpx = s.get("jpx")
    if jpx:
        size = jpx.get("portfolio_size") or [0, 0]
        books = f"{size[0]}" if size[0] == size[1] else f"{size[0]} to {size[1]}"
        own = jpx.get("strategy_net_mean_over_std")
        parts.append(
            f'<p id="qtrade-jpx"><b>JPX competition score: {_num(jpx.get("score"), ".3f")}</b>, the mean over the '
            f"standard deviation (ddof 1) of {jpx.get('n_dates', 0)} daily spread returns: on each origin date, "
            f"the top and bottom {books} tickers by forecast mean, weighted linearly from 2 (the most extreme) down "
            "to 1, the long book's simple held return minus the short book's; not annualised, no costs. The "
            f"competition's winner scored {jpx.get('winner_score', 0.381):.3f} (about 2000 stocks, 200 a side, on "
            "its private period). The same ratio of this strategy's own daily net return (its books, costs paid) "
            f"is {_num(own, '.3f')}.</p>"
        )
    parts.append("</div>")
    return "\n".join(parts)


def _cross_section_body(inputs: ReportInputs, summary: dict[str, Any]) -> list[str]:
    s = inputs.stats
    block = _same_dates(s, inputs.forecast_metrics)
    run = (block or {}).get("cross_section")
    run = run if isinstance(run, dict) and run.get("absent") is None and "ic" in run else None
    split = html.escape(s["split"])
    parts = [
        "<p>Each origin date, the forecast means are compared across tickers with the log returns they hold: "
        "the IC is their Pearson correlation, the rank IC their Spearman correlation; the table gives the "
        "mean, standard deviation, ratio (ICIR) and t-statistic of each over the dates. Quintiles are "
        "assigned each date by the forecast. <b>Traded period</b>: recomputed here from the backtest's "
        "forecasts and held returns, on the (ticker, day) pairs of the accuracy table"
        + (
            f"; <b>forecast run</b>: the forecast run's own {split} block (metrics.json), on the pairs where "
            "every baseline has a forecast too."
            if run
            else ". The forecast run's figures for these dates were not found."
        )
        + "</p>"
    ]
    head = ["figure", "traded period (recomputed)"] + ([f"forecast run, {s['split']} block"] if run else [])
    rows = [["Dates (median tickers a date)", _cross_dates(summary)] + ([_cross_dates(run)] if run else [])]
    for label, key, fmt in _CROSS_ROWS:
        rows.append([label, _cross_cell(summary, key, fmt)] + ([_cross_cell(run, key, fmt)] if run else []))
    parts.append(_table(head, rows))
    quint = summary.get("quantile_mean_target") or []
    if quint and all(v is not None for v in quint):
        k = len(quint)
        spread = summary.get("spread") or {}
        parts.append("<h3>Mean held return by forecast quintile, traded period</h3>")
        parts.append(_svg(_quintile_figure(quint, spread)))
        parts.append(
            _table(
                ["forecast quintile"]
                + [f"{q}{' (lowest)' if q == 1 else ' (highest)' if q == k else ''}" for q in range(1, k + 1)]
                + [f"{k} minus 1"],
                [
                    ["mean held return (bp)"]
                    + [f"{v * 1e4:+.2f}" for v in quint]
                    + [_cross_cell(summary, ("spread", "mean"), "bp")]
                ],
            )
        )
        parts.append(
            f"<p>Each quintile's mean log held return on a date, averaged over the {summary['n_dates']} "
            f"dates; {k} minus 1 is the mean of the daily top-minus-bottom difference (t = "
            f"{_num(spread.get('t_stat'), '.2f')}), the return of a daily long-short book of the quintiles "
            "before costs.</p>"
        )
    daily = inputs.cross_section
    if daily is not None and len(daily) and "rank_ic" in daily:
        parts.append("<h3>Daily IC of the forecast, traded period</h3>")
        parts.append(_svg(_ic_figure(daily)))
        parts.append(
            f"<p>The rolling means take the last {ROLLING_IC_DAYS} origin dates and start once they have "
            "all of them; the dotted line is the rank IC's mean over the period.</p>"
        )
    return parts


def _quintile_figure(quint: list[float], spread: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    k = len(quint)
    bp = [v * 1e4 for v in quint]
    top_minus_bottom = spread.get("mean")
    fig, ax = plt.subplots(figsize=(8, 3.9), dpi=110)
    colors = ["#2a9d8f" if v >= 0 else "#e76f51" for v in bp]
    bars = ax.bar(range(1, k + 1), bp, color=colors, label="mean held return of the quintile (green gain, red loss)")
    for q, bar in enumerate(bars.patches, start=1):
        bar.set_gid(f"quintile-{q}")
    if top_minus_bottom is not None:
        extra = ax.bar(
            [k + 1.5], [top_minus_bottom * 1e4], color="#264653", hatch="//", label=f"{k} minus 1 (top minus bottom)"
        )
        extra.patches[0].set_gid("quintile-spread")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks([*range(1, k + 1), k + 1.5])
    ax.set_xticklabels([f"{q}" for q in range(1, k + 1)] + [f"{k} - 1"])
    ax.set_xlabel("forecast quintile on each date (1 = lowest forecast mean)")
    ax.set_ylabel("mean log held return, bp")
    t = spread.get("t_stat")
    ax.set_title(
        "Mean held return by forecast quintile"
        + (
            f": top minus bottom {top_minus_bottom * 1e4:+.2f} bp a day" + (f" (t = {t:.2f})" if t is not None else "")
            if top_minus_bottom is not None
            else ""
        ),
        fontsize=10,
    )
    top = max(abs(v) for v in [*bp, (top_minus_bottom or 0) * 1e4]) * 1.2 or 1.0
    ax.set_ylim(-top, top)
    fig.legend(fontsize=8, loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def _ic_figure(daily: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    d = daily.sort_index()
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    ax.plot(d.index, d["rank_ic"], color="#9aa5b1", lw=0.7, label="daily rank IC", gid="rank-ic-daily")
    roll = d.rolling(ROLLING_IC_DAYS, min_periods=ROLLING_IC_DAYS).mean()
    ax.plot(
        d.index,
        roll["rank_ic"],
        color="#264653",
        lw=1.8,
        label=f"rank IC, {ROLLING_IC_DAYS}-date rolling mean",
        gid="rank-ic-rolling",
    )
    if "ic" in d:
        ax.plot(
            d.index,
            roll["ic"],
            color="#e76f51",
            lw=1.2,
            ls="--",
            label=f"IC (Pearson), {ROLLING_IC_DAYS}-date rolling mean",
            gid="ic-rolling",
        )
    mean = float(d["rank_ic"].mean())
    ax.axhline(mean, color="#264653", lw=1, ls=":", label=f"rank IC mean {mean:+.4f}", gid="rank-ic-mean")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("forecast origin")
    ax.set_ylabel("correlation across tickers")
    ax.set_title("Daily rank IC of the forecast across tickers, and rolling means", fontsize=10)
    fig.autofmt_xdate()
    fig.legend(fontsize=8, loc="lower center", ncol=4, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def _deciles_figure(d: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.8), dpi=110)
    colors = ["#2a9d8f" if v >= 0 else "#e76f51" for v in d["profit_pct"]]
    ax.bar(d["decile"], d["profit_pct"], color=colors, label="strategy profit, % of equity (green gain, red loss)")
    ax.set_xlabel("decile of |mean| / sd (1 = least confident)")
    ax.set_ylabel("profit, % of equity")
    ax.axhline(0, color="black", lw=0.8)
    ax2 = ax.twinx()
    ax2.plot(d["decile"], d["signed_return_bp"], "o-", color="#264653", label="signed held return (bp)")
    ax2.axhline(0, color="#264653", lw=0.5, ls=":")
    ax2.set_ylabel("signed return, bp")
    ax.set_xticks(d["decile"])
    for axis, values in ((ax, d["profit_pct"]), (ax2, d["signed_return_bp"])):  # zero at the same height
        top = float(values.abs().max()) * 1.15 or 1.0
        axis.set_ylim(-top, top)
    lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(lines, [str(h.get_label()) for h in lines], fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def write_tearsheet(inputs: ReportInputs, path: str | os.PathLike[str], *, title: str) -> None:
    """QuantStats' report of the net returns against the benchmark, with the forecast section inserted.

    A strategy that never traded (a net return of zero every day) gets qtrade's own page saying so, with the
    same qtrade sections: QuantStats cannot report a series that never moves (its beta regression fails).
    """
    returns = inputs.returns["strategy"].rename("Strategy")
    name = benchmark_name(inputs.stats)
    bench = inputs.returns["benchmark"].rename("Buy and hold, equal weight" if name == "buy and hold" else name)
    days = inputs.returns.get("rf")
    if not returns.fillna(0).to_numpy().any():
        page = no_trades_page(inputs, title=title)
        with atomic_path(path) as out:
            out.write_text(page, encoding="utf-8")
        return
    import quantstats as qs

    from backtests import quantstats_fixes

    quantstats_fixes.apply()
    # every Sharpe ratio of the report is of the excess returns stats.json's are of (none without --rf)
    rf: Any = 0.0 if days is None or not days.any() else quantstats_fixes.DailyRate.from_days(days.fillna(0.0))
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = Path(tmp) / "qs.html"
        qs.reports.html(
            returns,
            benchmark=bench,
            output=str(raw),
            title=title,
            match_dates=False,
            strategy_title="Strategy",
            benchmark_title="Buy and hold" if name == "buy and hold" else name,
            rf=rf,
            parameters={"Period": html.escape(period_words(inputs)), **subtitle_parameters(inputs.stats)},
        )
        page = raw.read_text(encoding="utf-8")
        page = drawdown_section(offline_page(page), quantstats_fixes.drawdown_table(returns))
        page = insert_sections(
            page,
            calendar_note(returns)
            + summary_table(inputs)
            + spread_table(inputs.stats)
            + certainty_section(inputs.stats),
            forecast_section(inputs),
        )
    with atomic_path(path) as out:
        out.write_text(page, encoding="utf-8")


def benchmark_name(stats: dict[str, Any]) -> str:
    """The benchmark's name in ``stats.json`` ("buy and hold" for the equal-weight default and older runs)."""
    return str((stats.get("benchmark_source") or {}).get("name", "buy and hold"))


def no_trades_page(inputs: ReportInputs, *, title: str) -> str:
    """The page for a strategy whose net return is zero on every day: what happened, then qtrade's sections."""
    r = inputs.returns
    days = f"{len(r)} days, {r.index[0]:%Y-%m-%d} to {r.index[-1]:%Y-%m-%d}" if len(r) else "no days"
    bench = float((1 + r["benchmark"].fillna(0)).prod() - 1) if len(r) else 0.0
    name = benchmark_name(inputs.stats)
    params = " &bull; ".join(
        f"{k}: {v}"
        for k, v in {"Period": html.escape(period_words(inputs)), **subtitle_parameters(inputs.stats)}.items()
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        "<style>body{margin:30px;font:13px/1.4 Arial,sans-serif}.container{max-width:960px;margin:auto}"
        "h4{color:grey;font-weight:400}table{margin:0 0 40px;border-spacing:0;width:100%}"
        "td,th{text-align:right;padding:4px 5px}td:first-child,th:first-child{text-align:left}"
        "thead th{background:#eee}svg,img{width:100%}</style>\n</head>\n<body>\n"
        f'<div class="container">\n<h1>{html.escape(title)}</h1>\n<h4>{params}</h4>\n<hr>\n'
        '<div id="qtrade-no-trades"><h2>The strategy never traded</h2>'
        f"<p>Its net return is zero on every one of the {days}: it held no position, so there is no performance "
        "to report (QuantStats' tearsheet cannot be drawn for a return series that never moves). "
        f"{html.escape(name[:1].upper() + name[1:] if name == 'buy and hold' else name)} over the same days returned "
        f"{bench * 100:.2f}%.</p></div>\n"
        f'<div id="qtrade-summary">{summary_table(inputs)}{certainty_section(inputs.stats)}</div>\n'
        f'<div id="qtrade-forecast">{forecast_section(inputs)}</div>\n'
        "</div>\n</body>\n</html>\n"
    )


_OUTSIDE_LINK = re.compile(r'<link\b[^>]*\bhref="https?://[^"]*"[^>]*>\s*', re.IGNORECASE)
_OUTSIDE_ANCHOR = re.compile(r'<a\b[^>]*\bhref="https?://[^"]*"[^>]*>(.*?)</a>', re.IGNORECASE | re.DOTALL)
_ONLOAD_SAVE = re.compile(r'\s+onload="save\(\)"', re.IGNORECASE)


def offline_page(page: str) -> str:
    """QuantStats' page without outside links (favicon, anchors keep their text) and without ``onload="save()"``.

    Examples
    --------
    >>> offline_page('<link rel="icon" href="https://x.io/f.ico"><body onload="save()"><a href="http://q.io">Q</a>')
    '<body>Q'
    """
    page = _OUTSIDE_LINK.sub("", page)
    page = _OUTSIDE_ANCHOR.sub(r"\1", page)
    return _ONLOAD_SAVE.sub("", page)


_DRAWDOWN_TABLE = re.compile(r'(<div id="ddinfo">\s*<h3>Worst 10 Drawdowns</h3>\s*)<table>.*?</table>', re.DOTALL)


def drawdown_section(page: str, table: str) -> str:
    """Put ``table`` in place of QuantStats' "Worst 10 Drawdowns" table (which dates a recovery that has not come)."""
    page, found = _DRAWDOWN_TABLE.subn(lambda m: m.group(1) + table, page)
    if found != 1:
        raise QtradeError(
            "this QuantStats version writes a page without the expected drawdown table; "
            "install quantstats 0.0.86 or a version with the same template"
        )
    return page


def insert_sections(page: str, right: str, full: str) -> str:
    """Put ``right`` before QuantStats' year table and ``full`` after both columns."""
    if page.count(RIGHT_ANCHOR) != 1 or page.count(END_ANCHOR) != 1:
        raise QtradeError(
            "this QuantStats version writes a page without the expected anchors; "
            "install quantstats 0.0.86 or a version with the same template"
        )
    page = page.replace(RIGHT_ANCHOR, f'<div id="qtrade-summary">{right}</div>\n{RIGHT_ANCHOR}')
    closing = page.rindex("</div>", 0, page.index(END_ANCHOR))  # the container's end
    return page[:closing] + f'<div id="qtrade-forecast">{full}</div>\n' + page[closing:]
