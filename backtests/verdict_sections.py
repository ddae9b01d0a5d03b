"""The tearsheet's verdicts, in tables and sentences: how sure the Sharpe ratio is, the VaR backtests of the traded
forecasts, the forecast run's verdict beside the baselines (Diebold-Mariano, model confidence set, walk-forward
folds), and the small formatting helpers the tearsheet's sections share."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

__all__ = ["certainty_section", "forecast_run_section", "p_value", "var_section"]


def _day(day: Any) -> str:
    return f"{pd.Timestamp(day):%-d %b %Y}"


def _pct(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x * 100:.{digits}f}%"


def _num(x: float | None, fmt: str = ".4f") -> str:
    return "-" if x is None else format(x, fmt)


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _sharpe_cells(block: dict[str, Any]) -> list[str]:
    """Sharpe ratio, standard error and interval of one series' ``sharpe_inference`` block."""
    est = block.get("sharpe") or {}
    if "absent" in est or "sharpe" not in est:
        return ["-", "-", "-"]
    return [f"{est['sharpe']:.2f}", f"{est['se']:.2f}", f"{est['lower']:.2f} to {est['upper']:.2f}"]


def _trl_cell(trl: dict[str, Any] | None) -> str:
    if not trl or "n" not in trl:
        return "-"
    if trl.get("days") is None:
        return "never (Sharpe ratio not above the target)"
    return f"{trl['days']:,.0f} ({trl['n']:,} at hand)"


def certainty_section(stats: dict[str, Any]) -> str:
    """ "How sure is this?": the Sharpe ratios' standard errors and intervals, the probabilistic Sharpe ratios, the
    minimum track record lengths and the test of the difference from the benchmark (buy and hold unless
    ``--benchmark`` chose another), with what each means here."""
    inference = stats.get("sharpe_inference")
    parts = ['<div id="qtrade-certainty">', "<h3>How sure is this?</h3>"]
    if not inference:
        parts.append(
            "<p>Not recorded (a backtest of an older qtrade): run qtrade backtest again for the Sharpe ratio's "
            "standard error, interval and tests.</p></div>"
        )
        return "\n".join(parts)
    net, bench = inference.get("net", {}), inference.get("benchmark", {})
    level = f"{100 * inference.get('level', 0.95):.3g}%"
    name = str(inference.get("benchmark_name", "buy and hold"))
    rate = str((stats.get("risk_free") or {}).get("rate", "0"))

    def prob(block: dict[str, Any], key: str) -> str:
        p = (block.get(key) or {}).get("probability")
        return "-" if p is None else f"{p * 100:.1f}%"

    s_net, s_bench = _sharpe_cells(net), _sharpe_cells(bench)
    against = (bench.get("sharpe") or {}).get("sharpe")
    rows = [
        ["Sharpe ratio (a year)", s_net[0], s_bench[0]],
        ["Standard error (HAC)", s_net[1], s_bench[1]],
        [f"{level} interval", s_net[2], s_bench[2]],
        ["P(true Sharpe > 0) (PSR)", prob(net, "psr_vs_zero"), prob(bench, "psr_vs_zero")],
        [f"P(true Sharpe > {name}'s {_num(against, '.2f')})", prob(net, "psr_vs_benchmark"), "-"],
        [
            f"Days needed to be {level} sure it beats 0",
            _trl_cell(net.get("min_track_record")),
            _trl_cell(bench.get("min_track_record")),
        ],
    ]
    diff = inference.get("difference") or {}
    if "p_value" in diff:
        rows.append(
            [
                f"Sharpe difference from {name} (Ledoit-Wolf)",
                f"{diff['difference']:+.2f} (SE {diff['se']:.2f}, {p_value(diff['p_value'])})",
                "-",
            ]
        )
    parts.append(_table(["", "Strategy, net", "Buy and hold" if name == "buy and hold" else name], rows))
    said = [
        (net.get("sharpe") or {}).get("meaning") or (net.get("sharpe") or {}).get("absent"),
        (bench.get("sharpe") or {}).get("meaning"),
        (net.get("psr_vs_zero") or {}).get("meaning"),
        (net.get("psr_vs_benchmark") or {}).get("meaning"),
        (net.get("min_track_record") or {}).get("meaning"),
        diff.get("meaning") or diff.get("absent"),
    ]
    parts.append("<ul>" + "".join(f"<li>{html.escape(str(m))}</li>" for m in said if m) + "</ul>")
    parts.append(
        '<p style="color:grey">The standard errors allow for fat tails and autocorrelation (Lo 2002, prewhitened '
        "Newey-West); the probabilistic Sharpe ratio and the days needed (Bailey and Lopez de Prado 2012) assume "
        "independent days."
        + (
            ""
            if rate in ("0", "0.0")
            else " Every Sharpe ratio is of the daily returns in excess of the risk-free rate "
            f"({html.escape(rate)} a year, / 252 a day)."
        )
        + "</p></div>"
    )
    return "\n".join(parts)


def p_value(p: float) -> str:
    """A p-value as the page shows it: three decimals, and "p < 0.001" below that (never "p = 0.000").

    Examples
    --------
    >>> p_value(0.0036), p_value(2e-9), p_value(0.5)
    ('p = 0.004', 'p < 0.001', 'p = 0.500')
    """
    return "p < 0.001" if p < 0.0005 else f"p = {p:.3f}"


def _dm_words(dm: dict[str, Any], labels: dict[str, str], split: str) -> str:
    """The headline Diebold-Mariano line: the comparator, where it was chosen, both losses."""
    n = dm["nll"].get("n")
    chosen = dm.get("chosen_on")
    if chosen == "val":
        why = (
            "the baseline with the lowest NLL on the validation block (chosen there, so that the "
            f"{split} block does not pick its own opponent)"
        )
    elif chosen:
        why = f"the baseline with the lowest NLL on the {chosen} block itself (the run has no validation block)"
    else:
        why = "the best baseline by NLL"
    se = dm.get("squared_error")
    se_words = f", squared error statistic {se['statistic']:+.2f} ({p_value(se['p_value'])})" if se else ""
    days = f", n = {n} days of cross-sectional mean losses" if n else ""
    return (
        f"<p>Diebold-Mariano (Harvey-Leybourne-Newbold corrected, p from t(n-1){days}), "
        f"{html.escape(labels.get(dm['model'], dm['model']))} against "
        f"{html.escape(labels.get(dm['against'], dm['against']))}, {why}: NLL statistic "
        f"{dm['nll']['statistic']:+.2f} ({p_value(dm['nll']['p_value'])}){se_words}; negative favours the "
        "LSTM.</p>"
    )


def _dm_table(block: dict[str, Any], labels: dict[str, str]) -> str:
    """The Diebold-Mariano test against every baseline, the headline one marked."""
    tests = block.get("diebold_mariano_all") or {}
    headline = (block.get("diebold_mariano") or {}).get("against")
    rows = []
    for m, t in tests.items():
        se = t.get("squared_error") or {}
        rows.append(
            [
                labels.get(m, m) + (" (headline)" if m == headline else ""),
                f"{t['nll']['statistic']:+.2f}",
                p_value(t["nll"]["p_value"]),
                _num(se.get("statistic"), "+.2f"),
                p_value(se["p_value"]) if "p_value" in se else "-",
            ]
        )
    if not rows:
        return ""
    return (
        "<h3>Diebold-Mariano against every baseline</h3>"
        + _table(["LSTM against", "NLL statistic", "NLL p", "squared-error statistic", "squared-error p"], rows)
        + "<p>Negative favours the LSTM. Only the headline test's opponent was chosen before looking at this "
        "block; the others are shown for completeness, with no correction for testing several.</p>"
    )


def var_section(forecast: dict[str, Any]) -> str:
    """The value-at-risk backtests of the traded forecasts' own densities (``stats["forecast"]["var_backtests"]``):
    hits, Kupiec's and Christoffersen's p-values at each level, and each level's sentence; empty for an older
    ``stats.json`` without them."""
    tests = forecast.get("var_backtests")
    if not isinstance(tests, dict):
        return ""
    if "absent" in tests:
        reason = html.escape(str(tests["absent"]))
        return f'<div id="qtrade-var"><h3>Value at risk</h3><p>No VaR backtest: {reason}.</p></div>'
    levels = [(k, v) for k, v in tests.items() if isinstance(v, dict) and "alpha" in v]
    if not levels:
        return ""

    def p(x: float | None) -> str:
        return "-" if x is None else p_value(x).removeprefix("p = ").replace("p < ", "< ")

    rows = [
        [
            label,
            f"{r['hits']} of {r['n']}",
            _pct(r.get("hit_rate")),
            p(r.get("uc_p")),
            p(r.get("ind_p")),
            p(r.get("cc_p")),
            "-" if "tickers_rejected" not in r else f"{r['tickers_rejected']['cc']} of {r.get('tickers', '-')}",
        ]
        for label, r in levels
    ]
    table = _table(
        [
            "VaR level",
            "hits",
            "hit rate",
            "Kupiec p (coverage)",
            "Christoffersen p (independence)",
            "conditional coverage p",
            "tickers rejected (cc, 5%)",
        ],
        rows,
    )
    said = "".join(f"<li>{html.escape(label)}: {html.escape(str(r['meaning']))}</li>" for label, r in levels)
    return (
        '<div id="qtrade-var"><h3>Value at risk of the forecast density</h3>'
        f"{table}<ul>{said}</ul><p>{html.escape(_sentence(str(tests.get('scope', ''))))}</p></div>"
    )


def _run_period_words(run: dict[str, Any], stats: dict[str, Any]) -> str:
    """Which period the forecast run's verdicts cover, beside the traded period."""
    period = run.get("period") or {}
    walk = run.get("walk_forward") or {}
    folds = walk.get("folds")
    if period.get("walk_forward"):
        where = "whole out-of-sample period" + (
            f" ({folds} walk-forward fold{'s' if folds != 1 else ''})" if folds else " (walk-forward)"
        )
    else:
        where = "whole test block"
    span = (
        f", origins {_day(period['first_date'])} to {_day(period['last_date'])}"
        if period.get("first_date") and period.get("last_date")
        else ""
    )
    n = f", {period['n']} forecasts" if isinstance(period.get("n"), int) else ""
    traded = stats.get("period", {})
    beside = (
        f" The backtest traded from the close of {_day(traded['first_close'])} to that of "
        f"{_day(traded['last_close'])}; the forecast run's period may be longer."
        if traded.get("first_close") and traded.get("last_close")
        else ""
    )
    return (
        f"From the forecast run's own metrics.json, over its {where}{span}{n}, every model on the same (ticker, day) "
        f"pairs.{beside}"
    )


def forecast_run_section(stats: dict[str, Any], metrics: dict[str, Any] | None = None) -> str:
    """ "Beside the baselines": the forecast run's verdicts over its whole test block or out-of-sample period
    (``stats["forecast_run"]``): the headline Diebold-Mariano test, the model confidence set and, for a
    walk-forward, the folds the LSTM won, each with its sentence; for a bare forecasts file, the sentence that says
    there are none. An older ``stats.json`` without ``forecast_run`` takes it from ``metrics`` (the copied
    ``forecast_metrics.json``) when there is one."""
    run = stats.get("forecast_run")
    if run is None and metrics is not None:
        from backtests.stats import forecast_run_verdicts

        run = forecast_run_verdicts(metrics)
    where = (
        "out-of-sample period"
        if isinstance(run, dict) and (run.get("period") or {}).get("walk_forward")
        else "test block"
        if isinstance(run, dict) and "period" in run
        else "period"
    )
    parts = [
        '<div id="qtrade-forecast-run">',
        f"<h3>Beside the baselines: the forecast run's verdict over its whole {where}</h3>",
    ]
    if not isinstance(run, dict):
        parts.append(
            "<p>Not recorded (a backtest of an older qtrade): run qtrade backtest again for the forecast run's "
            "Diebold-Mariano test and model confidence set.</p></div>"
        )
        return "\n".join(parts)
    if "absent" in run:
        parts.append(f"<p>None: {html.escape(str(run['absent']))}.</p></div>")
        return "\n".join(parts)
    labels = run.get("models") or {}

    def name(m: Any) -> str:
        return str(labels.get(m, m))

    parts.append(f"<p>{html.escape(_run_period_words(run, stats))}</p>")
    dm, mcs, walk = run.get("diebold_mariano") or {}, run.get("model_confidence_set") or {}, run.get("walk_forward")
    said: list[str] = []
    if "statistic" in dm:
        chosen = {"val": "lowest validation NLL"}.get(str(dm.get("chosen_on")), f"lowest NLL on {dm.get('chosen_on')}")
        against = f"{name(dm.get('against'))} ({chosen})" if dm.get("chosen_on") else name(dm.get("against"))
        rows = [["Diebold-Mariano, log score (headline)", against, f"{dm['statistic']:+.2f}", _p_cell(dm)]]
        se = dm.get("squared_error") or {}
        if "statistic" in se:
            rows.append(["Diebold-Mariano, squared error", against, f"{se['statistic']:+.2f}", _p_cell(se)])
        parts.append(_table(["test", f"{name(dm.get('model', 'lstm'))} against", "statistic", "p"], rows))
        said.append(str(dm.get("meaning") or "Negative statistics favour the LSTM."))
    else:
        said.append(f"Diebold-Mariano: {dm.get('absent', 'not recorded')}.")
    if "pvalues" in mcs:
        level = f"{100 * mcs.get('confidence', 0.9):.3g}%"
        included = set(mcs.get("included") or [])
        rows = [[name(m), f"{p:.3f}", "in" if m in included else "out"] for m, p in (mcs.get("pvalues") or {}).items()]
        parts.append(_table(["model", "MCS p-value", f"{level} model confidence set"], rows))
        if mcs.get("meaning"):
            said.append(str(mcs["meaning"]))
    else:
        said.append(f"Model confidence set: {mcs.get('absent', 'not recorded')}.")
    if isinstance(walk, dict) and "lstm_ahead_in" in walk:
        opponent = name(walk["opponent"]) if walk.get("opponent") else "each fold's best baseline"
        said.append(
            f"Walk-forward, {walk.get('schedule', 'schedule not recorded')}: the LSTM's log score beat {opponent} in "
            f"{walk['lstm_ahead_in']} of {walk.get('of_folds', '?')} folds (each fold's figures in "
            "forecast_metrics.json's walk_forward)."
        )
    parts.append("<ul>" + "".join(f"<li>{html.escape(m)}</li>" for m in said) + "</ul>")
    parts.append(
        '<p style="color:grey">Diebold-Mariano: Harvey-Leybourne-Newbold corrected, on per-date cross-sectional mean '
        "losses, negative favours the LSTM; its opponent was chosen on the validation block. Model confidence set: "
        "Hansen, Lunde and Nason (2011) on the log score; a model's MCS p-value is the largest size at which it "
        "stays in the set.</p></div>"
    )
    return "\n".join(parts)


def _p_cell(test: dict[str, Any]) -> str:
    p = test.get("p_value")
    return "-" if p is None else p_value(float(p))


def _sentence(text: str) -> str:
    """``text`` as a sentence: its first letter a capital, a full stop at the end (none for empty text).

    >>> _sentence("each hit is a return below the VaR"), _sentence("Done."), _sentence("")
    ('Each hit is a return below the VaR.', 'Done.', '')
    """
    text = text.strip()
    if not text:
        return ""
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")
