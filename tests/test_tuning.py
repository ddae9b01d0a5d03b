"""qtrade tune: a study end to end, resuming, several workers (SQLite and PostgreSQL), no test data, DSR."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtests.sharpe_verdicts import deflated_sharpe_ratio
from forecasting.errors import ConfigError
from forecasting.market.synthetic import synthetic_panel
from forecasting.pipeline import ForecastConfig, run_forecast
from forecasting.tuning.search import tune_forecaster, tuning_data

TINY = ForecastConfig(window=10, hidden=8, epochs=3, patience=2)
SPACE = {
    "window": {"type": "int", "low": 5, "high": 15, "step": 5},
    "hidden": {"type": "categorical", "choices": [8, 16]},
    "lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
}


@pytest.fixture
def space_file(tmp_path: Path) -> Path:
    p = tmp_path / "space.json"
    p.write_text(json.dumps(SPACE))
    return p


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    p = tmp_path / "panel.csv"
    synthetic_panel(2, 260, seed=4).reset_index().to_csv(p, index=False)
    return p


def _study(out: Path, name: str = "qtrade", storage: str | None = None):
    import optuna

    return optuna.load_study(study_name=name, storage=storage or f"sqlite:///{out / 'study.db'}")


def test_a_small_study_runs_and_its_best_params_feed_forecast(tmp_path: Path, space_file: Path) -> None:
    panel = synthetic_panel(2, 260, seed=4)
    out = tmp_path / "tune"
    record = tune_forecaster(panel, out, base=TINY, n_trials=4, space_file=space_file, progress=False)
    for name in ("best_params.json", "trials.csv", "tuning_report.html", "history.png", "study.db"):
        assert (out / name).is_file(), name
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 4 and trials["state"].isin(["COMPLETE", "PRUNED"]).all()
    assert record["default_value"] is not None  # trial 0 ran the starting settings
    assert record["value"] <= record["default_value"]
    best = json.loads((out / "best_params.json").read_text())
    assert set(SPACE) <= set(best["params"]) and set(best["tuned"]) <= set(SPACE)
    assert best["params"]["epochs"] == TINY.epochs and best["params"]["patience"] == TINY.patience
    # the whole configuration is recorded: forecast --params, from the defaults, trains what the best trial trained
    config = ForecastConfig(seed=best["seed"]).with_params(out / "best_params.json")
    assert config.window == best["params"]["window"] and config.lr == best["params"]["lr"]
    assert config.epochs == TINY.epochs and config.hidden == TINY.hidden
    run = run_forecast(panel, config, None, progress=False)
    assert np.isfinite(run.forecasts["mean"]).all()
    assert run.metrics["val"]["overall"]["lstm"]["nll"] == pytest.approx(record["value"], rel=1e-9)


def test_tuning_never_sees_the_test_period(tmp_path: Path) -> None:
    panel = synthetic_panel(2, 260, seed=4)
    data = tuning_data(panel, TINY)
    assert data.cube.dates.max() < data.first_test_date
    assert data.panel.index.get_level_values("date").max() < data.first_test_date
    changed = panel.copy()
    after = changed.index.get_level_values("date") >= data.first_test_date
    changed.loc[after, ["open", "high", "low", "close"]] *= 3.0
    changed.loc[after, "volume"] = 1.0
    a = tune_forecaster(panel, tmp_path / "a", base=TINY, n_trials=3, progress=False)
    b = tune_forecaster(changed, tmp_path / "b", base=TINY, n_trials=3, progress=False)
    values_a = [t.value for t in _study(tmp_path / "a").trials]
    values_b = [t.value for t in _study(tmp_path / "b").trials]
    assert values_a == values_b and a["params"] == b["params"]


def test_the_execution_is_tuned_for_recorded_and_kept(tmp_path: Path, data_file: Path, space_file: Path) -> None:
    from typer.testing import CliRunner

    from qtrade.cli import app

    _write_base(tmp_path)
    out = tmp_path / "tune"
    res = CliRunner().invoke(
        app,
        [
            "tune",
            "--out",
            str(out),
            "--data",
            str(data_file),
            "--space",
            str(space_file),
            "--params",
            str(tmp_path / "base.json"),
            "--n-trials",
            "1",
            "--epochs",
            "2",
            "--execution",
            "next-open",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "of the log return from the open of t+1 to the open of t+2" in res.output
    best = json.loads((out / "best_params.json").read_text())
    assert best["execution"] == "next-open" and best["target"] == "log return from the open of t+1 to the open of t+2"
    assert "execution" not in best["params"]
    # a resumed study scores one target only
    with pytest.raises(ConfigError, match="scores the target of --execution next-open; pass --execution next-open"):
        tune_forecaster(
            pd.read_csv(data_file, parse_dates=["date"]).set_index(["date", "ticker"]),
            out,
            base=TINY,
            n_trials=2,
            space_file=space_file,
            progress=False,
        )


def _tune_cmd(out: Path, data: Path, space: Path, n: int, *extra: str, epochs: int = 3) -> list[str]:
    return [
        sys.executable,
        "-m",
        "qtrade.cli",
        "tune",
        "--out",
        str(out),
        "--data",
        str(data),
        "--space",
        str(space),
        "--n-trials",
        str(n),
        "--epochs",
        str(epochs),
        "--patience",
        "2",
        "--params",
        str(out.parent / "base.json"),
        "--quiet",
        *extra,
    ]


def _write_base(tmp_path: Path) -> None:
    (tmp_path / "base.json").write_text(json.dumps({"window": 10, "hidden": 8}))


@pytest.mark.slow
def test_a_killed_run_resumes_and_keeps_its_finished_trials(tmp_path: Path, data_file: Path, space_file: Path) -> None:
    _write_base(tmp_path)
    out = tmp_path / "tune"
    cmd = _tune_cmd(out, data_file, space_file, 8, "--pruner", "none")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    finished_before = 0
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            time.sleep(0.3)
            if not (out / "study.db").is_file():
                continue
            try:
                trials = _study(out).trials
            except Exception:  # the study is being created
                continue
            done = [t for t in trials if t.state.name == "COMPLETE"]
            running = [t for t in trials if t.state.name == "RUNNING"]
            if len(done) >= 2 and running:
                os.killpg(proc.pid, signal.SIGKILL)  # in the middle of a trial
                finished_before = len(done)
                break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert finished_before >= 2, "the run ended before it could be interrupted"
    before = {t.number: t.value for t in _study(out).trials if t.state.name == "COMPLETE"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    after = _study(out).trials
    kept = {t.number: t.value for t in after if t.number in before}
    assert kept == before
    assert sum(t.state.name == "COMPLETE" for t in after) == 8


def _busy_loop() -> subprocess.Popen[bytes]:
    """A process that keeps one core busy: the machine of the failing `make test` was busy too."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def _whole_outputs(out: Path, study: object) -> int:
    """The folder describes the whole study in whole files: the last worker to finish wrote after every trial."""
    trials = study.trials  # type: ignore[attr-defined]
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    best = json.loads((out / "best_params.json").read_text())
    assert best["n_finished"] == len(finished)
    assert len(pd.read_csv(out / "trials.csv")) == len(trials)
    page = (out / "tuning_report.html").read_text()
    assert page.rstrip().endswith("</html>") and f"{len(finished)} finished trials" in page
    for image in re.findall(r'<img src="([^"]+)"', page):
        assert (out / image).is_file(), image
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "tune" and manifest["study"]["name"] == best["study"]
    assert manifest["study"]["n_finished"] == len(finished)
    assert all((out / name).exists() for name in manifest["outputs"])
    assert not [p.name for p in out.iterdir() if p.name.endswith(".part")]
    return int(manifest["study"]["processes"])


def _three_workers_under_load(
    tmp_path: Path, data_file: Path, space_file: Path, storage: str | None, rounds: int = 2, n_trials: int = 6
) -> None:
    """Three workers of one study started together on one folder while another process keeps a core busy."""
    _write_base(tmp_path)
    extra = ["--storage", storage] if storage else []
    load = _busy_loop()
    processes = []
    try:
        for r in range(rounds):
            out = tmp_path / f"shared{r}"
            cmd = _tune_cmd(out, data_file, space_file, n_trials, "--study", f"round{r}", *extra, epochs=2)
            procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
            for p in procs:
                _, err = p.communicate(timeout=400)
                assert p.returncode == 0, f"round {r}: {err}"
            study = _study(out, name=f"round{r}", storage=storage)
            done = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
            assert len(done) >= n_trials
            processes.append(_whole_outputs(out, study))
    finally:
        load.kill()
        load.wait()
    assert max(processes) >= 2, processes  # the workers did share the study


@pytest.mark.slow
def test_three_workers_under_load_share_one_sqlite_study(tmp_path: Path, data_file: Path, space_file: Path) -> None:
    # the test that failed on a busy machine, now with three workers under load, repeated; nobody creates the
    # study first: the workers start together
    _three_workers_under_load(tmp_path, data_file, space_file, None)


def test_clearing_tolerates_outputs_another_worker_removed_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the race of the failing `make test`, made certain: another worker removes each output between this one's
    # check that it exists and its removal
    from forecasting.outputs import clear_previous

    for name in ("best_params.json", "tuning_report.html", "history.png", "metrics.json"):
        (tmp_path / name).write_text("x")
    (tmp_path / "forecast").mkdir()
    (tmp_path / "forecast" / "forecasts.csv").write_text("x")
    unlink, rmtree = Path.unlink, shutil.rmtree

    def unlink_after_the_other(self: Path, *args: object, **kwargs: object) -> None:
        if self.parent == tmp_path and self.exists():
            os.remove(self)
        unlink(self, *args, **kwargs)  # type: ignore[arg-type]

    def rmtree_after_the_other(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        if Path(path).exists():
            rmtree(path)
        rmtree(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "unlink", unlink_after_the_other)
    monkeypatch.setattr(shutil, "rmtree", rmtree_after_the_other)
    assert clear_previous(tmp_path) == []  # the other worker removed them all
    assert list(tmp_path.iterdir()) == []


def test_the_folder_lock_makes_a_second_process_wait(tmp_path: Path) -> None:
    # workers that finish together write the outputs one after the other
    from forecasting.atomic import folder_lock

    script = (
        "import sys, time\nfrom forecasting.atomic import folder_lock\nprint('trying', flush=True)\n"
        "with folder_lock(sys.argv[1]):\n    print(time.time(), flush=True)\n"
    )
    with folder_lock(tmp_path):
        other = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        assert other.stdout is not None and other.stdout.readline().strip() == "trying"
        time.sleep(0.5)
        released = time.time()
    assert float(other.communicate(timeout=60)[0]) >= released


def test_a_worker_joining_the_study_removes_none_of_its_outputs(
    tmp_path: Path, space_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forecasting.outputs import OUTPUT_NAMES

    panel = synthetic_panel(2, 260, seed=4)
    out = tmp_path / "tune"
    tune_forecaster(panel, out, base=TINY, n_trials=2, space_file=space_file, progress=False)
    (out / "history.png").write_bytes(b"drawn by the first worker")
    removed: list[str] = []
    unlink, rmtree = Path.unlink, shutil.rmtree

    def spy_unlink(self: Path, *args: object, **kwargs: object) -> None:
        if self.parent == out and self.name in OUTPUT_NAMES:
            removed.append(self.name)
        unlink(self, *args, **kwargs)  # type: ignore[arg-type]

    def spy_rmtree(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        removed.append(Path(path).name)
        rmtree(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "unlink", spy_unlink)
    monkeypatch.setattr(shutil, "rmtree", spy_rmtree)
    # a worker of the same study that joins when the study is full: it only writes the outputs again, in place
    record = tune_forecaster(panel, out, base=TINY, n_trials=2, space_file=space_file, progress=False)
    assert removed == []
    assert record["n_finished"] == 2 and (out / "history.png").read_bytes() != b"drawn by the first worker"
    # another study in the same folder is another run: the first study's outputs go before its own are written
    tune_forecaster(panel, out, base=TINY, n_trials=1, space_file=space_file, study_name="other", progress=False)
    assert "best_params.json" in removed and "manifest.json" in removed
    assert json.loads((out / "manifest.json").read_text())["study"]["name"] == "other"


def test_the_manifest_hides_the_storage_password(
    tmp_path: Path, space_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the command line as a worker on a shared database would record it (the study here is the folder's SQLite)
    monkeypatch.setattr(
        sys,
        "argv",
        ["qtrade", "tune", "--storage", "postgresql://me:secret@db.example.com/optuna", "--out", str(tmp_path / "t")],
    )
    tune_forecaster(
        synthetic_panel(2, 260, seed=4), tmp_path / "t", base=TINY, n_trials=1, space_file=space_file, progress=False
    )
    text = (tmp_path / "t" / "manifest.json").read_text()
    assert "secret" not in text and "postgresql://me:***@db.example.com/optuna" in text


@pytest.mark.slow
def test_tune_records_a_manifest_and_rerun_repeats_the_study(tmp_path: Path, data_file: Path, space_file: Path) -> None:
    import optuna
    from typer.testing import CliRunner

    from forecasting.manifest import file_hash
    from qtrade.cli import app

    _write_base(tmp_path)
    out, elsewhere = tmp_path / "tune", tmp_path / "elsewhere.db"
    cmd = _tune_cmd(out, data_file, space_file, 3, "--storage", f"sqlite:///{elsewhere}", epochs=2)
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert first.returncode == 0, first.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "tune" and manifest["seed"] == 0 and len(manifest["data"]["sha256"]) == 64
    assert manifest["inputs"]["--space"]["sha256"] == file_hash(space_file)
    assert manifest["study"]["name"] == "qtrade" and manifest["study"]["n_finished"] == 3
    assert manifest["study"]["storage"] == f"sqlite:///{elsewhere}"
    assert {"best_params.json", "trials.csv", "tuning_report.html", "history.png"} <= set(manifest["outputs"])
    assert manifest["config"]["epochs"] == 2 and manifest["config"]["objective"] == "nll"
    res = CliRunner().invoke(app, ["rerun", str(out), "--out", str(tmp_path / "again")])
    assert res.exit_code == 0, res.output
    assert "data: the same" in res.output and f"--space {space_file}: the same" in res.output
    assert "trials.csv: identical" in res.output and "best_params.json: identical" in res.output
    # the rerun is a study of its own: it added nothing to the recorded study
    assert len(optuna.load_study(study_name="qtrade", storage=f"sqlite:///{elsewhere}").trials) == 3
    assert (tmp_path / "again" / "study.db").is_file()
    # a recorded trial that differs is found
    trials = pd.read_csv(out / "trials.csv")
    trials.loc[1, "value"] += 1e-9
    trials.to_csv(out / "trials.csv", index=False)
    res = CliRunner().invoke(app, ["rerun", str(out), "--out", str(tmp_path / "third")])
    assert res.exit_code == 1 and "trials.csv: DIFFERENT (trial 1)" in res.output


@pytest.mark.slow
def test_three_workers_under_load_share_one_postgresql_study(
    tmp_path: Path, data_file: Path, space_file: Path, postgres: str
) -> None:
    _three_workers_under_load(tmp_path, data_file, space_file, postgres)


def test_workers_that_start_together_all_open_a_fresh_postgresql_study(tmp_path: Path, postgres: str) -> None:
    # Workers started at the same moment race to create optuna's tables; the losers used to fail with
    # "duplicate key value violates unique constraint". Each must open the same study.
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from forecasting.tuning.study import open_study

    gate = Barrier(6)

    def worker(k: int) -> str:
        gate.wait()
        study = open_study(tmp_path / f"w{k}", storage=postgres, study_name="race", seed=k, direction="minimize")
        return study.study_name

    with ThreadPoolExecutor(6) as pool:
        names = list(pool.map(worker, range(6)))
    assert names == ["race"] * 6


def test_workers_that_start_together_all_open_a_fresh_sqlite_study(tmp_path: Path) -> None:
    # the same race on the default SQLite file: the losers saw "table ... already exists" and failed
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from forecasting.tuning.study import open_study

    for attempt in range(5):
        out = tmp_path / f"a{attempt}"
        gate = Barrier(6)

        def worker(k: int, out: Path = out, gate: Barrier = gate) -> str:
            gate.wait()
            return open_study(out, storage=None, study_name="race", seed=k, direction="minimize").study_name

        with ThreadPoolExecutor(6) as pool:
            assert list(pool.map(worker, range(6))) == ["race"] * 6


def test_deflated_sharpe_ratio_by_hand() -> None:
    rng = np.random.default_rng(3)
    r = rng.normal(0.0008, 0.01, 750)
    trials = [0.01, 0.03, 0.05, 0.02, float(r.mean() / r.std(ddof=1))]
    got = deflated_sharpe_ratio(r, trials)
    n, t = len(trials), len(r)
    mean = sum(r) / t
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / (t - 1))
    sr = mean / sd
    m2 = sum((x - mean) ** 2 for x in r) / t
    skew = (sum((x - mean) ** 3 for x in r) / t) / m2**1.5
    kurt = (sum((x - mean) ** 4 for x in r) / t) / m2**2
    mu = sum(trials) / n
    var = sum((s - mu) ** 2 for s in trials) / (n - 1)
    from statistics import NormalDist

    z = NormalDist()
    g = 0.5772156649015329
    sr0 = math.sqrt(var) * ((1 - g) * z.inv_cdf(1 - 1 / n) + g * z.inv_cdf(1 - 1 / (n * math.e)))
    dsr = z.cdf((sr - sr0) * math.sqrt(t - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2))
    assert got["dsr"] == pytest.approx(dsr, rel=1e-9)
    assert got["sharpe_threshold_daily"] == pytest.approx(sr0, rel=1e-9)
    assert deflated_sharpe_ratio(r, trials * 20)["dsr"] < got["dsr"] or n == 1


def test_strategy_tuning_reports_the_deflated_sharpe(tmp_path: Path) -> None:
    from backtests.tuning import tune_strategy

    record = tune_strategy(
        synthetic_panel(3, 320, seed=2), tmp_path / "s", strategy="threshold", base=TINY, n_trials=5, progress=False
    )
    assert record["configurations_tried"] == 5
    assert 0.0 <= record["deflated_sharpe"]["dsr"] <= 1.0
    assert record["validation_period"][1] < record["test_period_starts"]
    assert set(record["params"]) == {"k", "weight"}


def test_strategy_tuning_sets_volmanaged_constant_on_the_training_block(tmp_path: Path) -> None:
    from backtests.tuning import tune_strategy, validation_forecasts

    panel = synthetic_panel(3, 320, seed=2)
    forecasts, _ = validation_forecasts(panel, TINY)
    assert set(forecasts["split"]) == {"train", "val"}  # the training block's forecasts set c, trials trade val
    record = tune_strategy(panel, tmp_path / "v", strategy="volmanaged", base=TINY, n_trials=2, progress=False)
    assert np.isfinite(record["value"]) and record["execution"] == "next-close"


def test_tune_cli_errors(tmp_path: Path, space_file: Path) -> None:
    from typer.testing import CliRunner

    from qtrade.cli import app

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"nonsense": {"type": "int", "low": 1, "high": 2}}))
    res = CliRunner().invoke(app, ["tune", "--out", str(tmp_path / "o"), "--space", str(bad)])
    assert res.exit_code == 1 and "'nonsense' is not a setting that can be tuned" in res.output
    res = CliRunner().invoke(app, ["tune", "--out", str(tmp_path / "o"), "--objective", "profit"])
    assert res.exit_code == 1 and "--objective 'profit' is not known" in res.output


def test_a_folder_lock_the_file_system_refuses_runs_unlocked_and_says_so(tmp_path: Path, monkeypatch) -> None:
    import errno
    import fcntl

    from forecasting.atomic import folder_lock

    def refuse(fd: object, op: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", refuse)
    ran = []
    with pytest.warns(UserWarning, match="refused a lock"), folder_lock(tmp_path):
        ran.append(True)
    assert ran == [True]


def test_a_trial_another_worker_finished_first_is_dropped_and_the_study_goes_on(tmp_path: Path) -> None:
    """Two SQLite workers started together can pop the same enqueued trial (pysqlite reads outside a transaction);
    the slower one's tell is refused ("Cannot tell a COMPLETE trial"). Made to happen here: the objective's first
    trial is finished by a second handle of the same study, as the other worker would. The run goes on to its
    n_trials finished trials instead of stopping with that error (it once failed CI under load)."""
    import optuna

    from forecasting.tuning.study import finished_trials, open_study, run_study

    study = open_study(tmp_path, storage=None, study_name="race", seed=0, direction="minimize")
    other = optuna.load_study(study_name="race", storage=study._storage)
    study.enqueue_trial({"x": 0.5})
    raced = []

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        if not raced:
            raced.append(trial.number)
            other.tell(trial.number, x**2)  # the other worker finishes this trial first
        return x**2

    run_study(study, objective, n_trials=4, timeout=None, progress=False)
    done = finished_trials(study)
    assert len(done) == 4 and raced == [0]
    assert done[0].value == 0.25  # the other worker's result stands
