"""Labs for instructors: a grid of runs (`course sweep`), a search chosen on validation (`course search`), a page.

    course sweep 03_lora -p lora_r 2,8,32 -p seed 0,1,2 --out labs/ranks
    course search 03_lora --trials 12 -s peft_learning_rate=log:1e-4:1e-2 -s lora_r=int:2:64 --out labs/search
    course report labs/ranks

Every point of a sweep and every trial of a search runs through `runner.run_notebook`, the same papermill path as
`course run`, into its own folder. A point that finished is not run again, so an interrupted sweep resumes; a
search keeps its trials in an Optuna study in SQLite (`study.db`), so it resumes too, and two terminals running
the same search add trials to one study.

A search chooses on a validation split: it carves a stratified 15 % (`data.validation_split`) out of the
training file, and each trial trains on the rest and is scored on that split, passed to the lesson as its
`tone_test`. The lesson's test file is read once, by the final run of the best parameters.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import time
from pathlib import Path
from typing import Any, Sequence

from course_utils.config import resolve_course_path, resolve_params
from course_utils.data import VALIDATION_FRACTION
from course_utils.instructor import runner
from course_utils.lessons import lesson
from course_utils.runs import atomic_write_text

SPACE_KINDS = ("log", "float", "int", "choice")
POINT_FILE = "point.json"


def metric_value(metrics: dict[str, Any], name: str) -> Any:
    """The value at a dotted path ("methods.lora.accuracy") of a metrics.json, or None when absent."""
    value: Any = metrics
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def parse_grid(pairs: Sequence[tuple[str, str]]) -> dict[str, list[Any]]:
    """`-p lora_r 2,8,32 -p seed 0,1` as {"lora_r": [2, 8, 32], "seed": [0, 1]}: each comma-separated value parsed.

    Names joined by `:` move together: `-p lora_r:lora_alpha 2:4,8:16,32:64` is one axis of three points, each
    value giving one number per name ({"lora_r:lora_alpha": [[2, 4], [8, 16], [32, 64]]}).
    """
    grid: dict[str, list[Any]] = {}
    for name, text in pairs:
        names = name.split(":")
        taken = [n for n in names if n in grid_parameters(grid) or names.count(n) > 1]
        if taken:
            raise runner.UsageError(f"-p {taken[0]} is given twice: list its values once, separated by commas")
        parts = [part for part in text.split(",") if part.strip()]
        if not parts:
            raise runner.UsageError(f"-p {name} has no values: give one or more, separated by commas")
        if len(names) == 1:
            grid[name] = [runner.parse_value(part) for part in parts]
            continue
        wrong = [part for part in parts if len(part.split(":")) != len(names)]
        if wrong:
            raise runner.UsageError(f"-p {name}: the value {wrong[0]!r} does not give {len(names)} values joined by ':' "
                                 f"(one for each of {', '.join(names)}), e.g. -p lora_r:lora_alpha 2:4,8:16")
        grid[name] = [[runner.parse_value(value) for value in part.split(":")] for part in parts]
    return grid


def grid_parameters(grid: dict[str, list[Any]]) -> list[str]:
    """The parameter names a grid sets, tied ones (`lora_r:lora_alpha`) split into theirs."""
    return [name for key in grid for name in key.split(":")]


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the first parameter varying slowest; tied names move together."""
    points = []
    for values in itertools.product(*grid.values()):
        point: dict[str, Any] = {}
        for key, value in zip(grid, values):
            point |= dict(zip(key.split(":"), value)) if ":" in key else {key: value}
        points.append(point)
    return points


def point_name(point: dict[str, Any]) -> str:
    """A folder name for one point: `lora_r=8,seed=1` (characters a file name cannot hold become `_`)."""
    return re.sub(r"[^A-Za-z0-9._=,+-]", "_", ",".join(f"{k}={v}" for k, v in point.items())) or "default"


def _validate(path: Path, profile: str, points: Sequence[dict[str, Any]]) -> None:
    """Every point checked as `course run` checks its -p values, before anything runs."""
    for point in points:
        runner.validate_overrides([path], profile, point)


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student's t interval for the mean of `values` (scipy); (nan, nan) with fewer than two."""
    from scipy import stats

    values = [float(v) for v in values]
    if len(values) < 2:
        return math.nan, math.nan
    mean, sem = sum(values) / len(values), stats.sem(values)
    if sem == 0:
        return mean, mean
    low, high = stats.t.interval(confidence, len(values) - 1, loc=mean, scale=sem)
    return float(low), float(high)


def summarise(table: Any, parameters: Sequence[str], metrics: Sequence[str], over: str = "seed") -> Any:
    """Mean, standard deviation, count and 95 % t interval of each metric, per setting of the other parameters."""
    import pandas as pd

    ok = table[table["status"] == "ok"]
    keys = [p for p in parameters if p != over] or None
    groups = ok.groupby(keys, sort=False, dropna=False) if keys else [((), ok)]
    rows = []
    for key, group in groups:
        row = dict(zip(keys or [], key if isinstance(key, tuple) else (key,)))
        for metric in metrics:
            values = [v for v in group[metric] if isinstance(v, (int, float)) and not math.isnan(v)]
            low, high = t_interval(values)
            row |= {f"{metric} mean": sum(values) / len(values) if values else math.nan,
                    f"{metric} sd": float(pd.Series(values).std()) if len(values) > 1 else math.nan,
                    f"{metric} n": len(values), f"{metric} 95% low": low, f"{metric} 95% high": high}
        rows.append(row)
    return pd.DataFrame(rows)


def plot_summary(summary: Any, parameter: str | None, metrics: Sequence[str], path: Path) -> Path:
    """Each metric's mean against `parameter`, with its 95 % interval as error bars; saved to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.4), squeeze=False)
    labels = [str(v) for v in summary[parameter]] if parameter else ["all"] * len(summary)
    for axis, metric in zip(axes[0], metrics):
        means = summary[f"{metric} mean"]
        low, high = summary[f"{metric} 95% low"], summary[f"{metric} 95% high"]
        errors = [[0 if math.isnan(m - lo) else m - lo for m, lo in zip(means, low)],
                  [0 if math.isnan(hi - m) else hi - m for m, hi in zip(means, high)]]
        axis.errorbar(range(len(means)), means, yerr=errors, marker="o", capsize=4)
        axis.set_xticks(range(len(means)), labels)
        axis.set_xlabel(parameter or "")
        axis.set_title(metric, fontsize=10)
    figure.suptitle("mean over seeds, 95 % t interval")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def run_sweep(notebook: str, grid: dict[str, list[Any]], out: Path, profile: str = "ci",
              fixed: dict[str, Any] | None = None, metrics: Sequence[str] = (), progress: bool = False,
              validation_fraction: float | None = None, split_seed: int = 0) -> Any:
    """Run every point of `grid` (plus `fixed` values) into out/points/<point>/; returns the table of results.

    A point whose point.json says "ok" is skipped. A failed point is recorded with its failing cell and the
    others go on. Writes out/sweep.csv, out/summary.csv and out/sweep.png, and out/sweep.json (how it was run).
    With `validation_fraction`, every point trains on the rest of the training file and is scored on a
    stratified validation split of it (the lesson's test file is not read): a sweep to choose with.
    """
    import pandas as pd

    path, fixed, out = runner.notebook_path(notebook), dict(fixed or {}), Path(out).resolve()
    split_files = {"tone_train", "tone_test"} if validation_fraction else set()
    overlap = sorted(set(grid_parameters(grid)) & (set(fixed) | split_files))
    if overlap:
        raise runner.UsageError(f"{overlap[0]} is both swept (-p) and fixed (--set, or the validation split): "
                             "give it once")
    if validation_fraction:
        fit_file, validation_file, _, _ = split_for_choosing(path, profile, fixed, validation_fraction, split_seed,
                                                             out)
        fixed |= {"tone_train": str(fit_file), "tone_test": str(validation_file)}
    points = grid_points(grid)
    _validate(path, profile, [point | fixed for point in points])
    atomic_write_text(out / "sweep.json", json.dumps({"notebook": path.stem, "profile": profile, "grid": grid,
                                                      "fixed": fixed, "validation_fraction": validation_fraction},
                                                     indent=2) + "\n")
    print(f"course sweep: {path.stem}, {len(points)} point(s), profile {profile}, results in {out}", flush=True)
    records = []
    for index, point in enumerate(points, start=1):
        folder = out / "points" / point_name(point)
        record_path = folder / POINT_FILE
        previous = json.loads(record_path.read_text()) if record_path.exists() else None
        if previous and previous["status"] == "ok":
            print(f"[{index}/{len(points)}] {point_name(point)}: finished before, skipped", flush=True)
            records.append(previous)
            continue
        outcome = runner.run_notebook(path.stem, profile, point | fixed, folder, progress, source=path)
        record = {"point": point, "status": outcome.status, "seconds": round(outcome.seconds, 1),
                  "detail": outcome.detail, "folder": str(folder.relative_to(out)), "metrics": outcome.metrics}
        atomic_write_text(record_path, json.dumps(record, indent=2, default=str) + "\n")
        print(f"[{index}/{len(points)}] {point_name(point)}: {outcome.status} in {outcome.seconds:.1f} s "
              f"{outcome.detail}", flush=True)
        records.append(record)
    entry = lesson(path.stem)  # the course's own lessons name the numbers a sweep collects (course_utils.lessons)
    chosen = list(metrics) or list(entry.sweep_metrics if entry else ()) or list(
        runner.key_metrics(next((r["metrics"] for r in records if r["metrics"]), {})))
    table = pd.DataFrame([{**r["point"], "status": r["status"], "seconds": r["seconds"], "detail": r["detail"],
                           **{m: metric_value(r["metrics"], m) for m in chosen}} for r in records])
    atomic_write_text(out / "sweep.csv", table.to_csv(index=False))
    write_sweep_summary(table, grid_parameters(grid), chosen, out)
    return table


def write_sweep_summary(table: Any, parameters: Sequence[str], metrics: Sequence[str], out: Path) -> Any:
    """summary.csv and sweep.png from a sweep's table; prints both tables."""
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 30):
        print("\n" + table.drop(columns=["detail"]).to_string(index=False))
        failed = table[table["status"] != "ok"]
        for _, row in failed.iterrows():
            print(f"FAILED {point_name({p: row[p] for p in parameters})}: {row['detail']}")
        numeric = [m for m in metrics if pd.api.types.is_numeric_dtype(table[m])]
        if not numeric or failed.shape[0] == table.shape[0]:
            return None
        summary = summarise(table, parameters, numeric)
        atomic_write_text(out / "summary.csv", summary.to_csv(index=False))
        print("\n" + summary.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    x = next((p for p in parameters if p != "seed"), None)
    print(f"\nwrote {out / 'sweep.csv'}, {out / 'summary.csv'} and {plot_summary(summary, x, numeric, out / 'sweep.png')}")
    return summary


# course search -------------------------------------------------------------------------------------------------


def parse_space(specs: Sequence[str]) -> dict[str, tuple[str, list[Any]]]:
    """`-s peft_learning_rate=log:1e-4:1e-2 -s lora_r=int:2:64 -s batch_size=choice:8,16,32` as a search space."""
    space: dict[str, tuple[str, list[Any]]] = {}
    for spec in specs:
        name, _, rest = spec.partition("=")
        kind, _, values = rest.partition(":")
        if not name or kind not in SPACE_KINDS or not values:
            raise runner.UsageError(f"-s {spec!r}: write NAME=KIND:VALUES with KIND one of {', '.join(SPACE_KINDS)}, "
                                 "e.g. peft_learning_rate=log:1e-4:1e-2, lora_r=int:2:64, batch_size=choice:8,16,32")
        parts = [runner.parse_value(v) for v in values.split(",")] if kind == "choice" else \
            [runner.parse_value(v) for v in values.split(":")]
        if kind != "choice":
            if len(parts) != 2 or not all(isinstance(v, (int, float)) for v in parts) or not parts[0] < parts[1]:
                raise runner.UsageError(f"-s {spec!r}: {kind} takes LOW:HIGH, two numbers with LOW < HIGH")
            if kind == "log" and parts[0] <= 0:
                raise runner.UsageError(f"-s {spec!r}: a log range must be above 0")
            if kind == "int" and not all(isinstance(v, int) for v in parts):
                raise runner.UsageError(f"-s {spec!r}: an int range takes two whole numbers")
        space[name] = (kind, parts)
    if not space:
        raise runner.UsageError("name at least one parameter to search with -s NAME=KIND:VALUES")
    return space


def suggest(trial: Any, space: dict[str, tuple[str, list[Any]]]) -> dict[str, Any]:
    """The trial's values for every parameter of the space, through Optuna's suggest_* calls."""
    values = {}
    for name, (kind, parts) in space.items():
        if kind == "choice":
            values[name] = trial.suggest_categorical(name, parts)
        elif kind == "int":
            values[name] = trial.suggest_int(name, parts[0], parts[1])
        else:
            values[name] = trial.suggest_float(name, float(parts[0]), float(parts[1]), log=kind == "log")
    return values


class TrialFailed(RuntimeError):
    """A trial's notebook failed; Optuna marks the trial failed and the search goes on."""


def _write_rows(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    """Rows as JSON lines, atomically; an existing identical file is left alone."""
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        atomic_write_text(path, text)
    return path


def split_for_choosing(path: Path, profile: str, fixed: dict[str, Any], fraction: float, seed: int,
                       out: Path) -> tuple[Path, Path, Path, tuple[int, int]]:
    """The training file split into out/split/train.jsonl and validation.jsonl (stratified, seeded).

    Returns both paths, the test file the lesson would read (which choosing must not), and the two sizes.
    """
    from course_utils import data

    if not {"tone_train", "tone_test"} <= runner.notebook_parameters(path):
        raise runner.UsageError(f"{path.stem} does not take tone_train and tone_test: choosing on validation needs "
                             "both, to train on part of the training file and score on the rest")
    if "tone_test" in fixed:
        raise runner.UsageError("tone_test cannot be fixed when choosing on validation: the validation split takes "
                             "its place, and the test file is left alone")
    base = resolve_params(profile, **{k: v for k, v in fixed.items() if k != "out_dir"})
    train_file, test_file = resolve_course_path(base.tone_train), resolve_course_path(base.tone_test)
    fit_rows, validation_rows = data.validation_split(data.load_tone(train_file), fraction, seed,
                                                      source=str(train_file))
    fit_file = _write_rows(out / "split" / "train.jsonl", fit_rows)
    validation_file = _write_rows(out / "split" / "validation.jsonl", validation_rows)
    return fit_file, validation_file, test_file, (len(fit_rows), len(validation_rows))


# Two terminals that start a search in one folder at once race to create the study's tables; the loser waits
# 1, 2, 3 and 4 s between its attempts.
STUDY_OPEN_ATTEMPTS = 5
# TPE draws at random before it models anything: a third of the trials, at least 2 and at most 10 (Optuna's own
# default is 10, more than a class's small search runs in all).
TPE_RANDOM_EVERY, TPE_RANDOM_MIN, TPE_RANDOM_MAX = 3, 2, 10


def _check_search(path: Path, space: dict[str, tuple[str, list[Any]]], trials: int, fixed: dict[str, Any],
                  metric: str | None, sampler: str) -> str:
    """The metric to maximise, or a UsageError saying what in the request cannot run."""
    metric = metric or getattr(lesson(path.stem), "search_metric", None)
    if metric is None:
        raise runner.UsageError(f"name the metric to maximise with --metric (a key of {path.stem}'s metrics.json)")
    if trials < 1:
        raise runner.UsageError(f"--trials must be a positive whole number (got {trials})")
    if sampler not in ("tpe", "random"):
        raise runner.UsageError(f"--sampler must be tpe or random (got {sampler!r})")
    taken = sorted(set(space) & (set(fixed) | {"tone_train", "tone_test"}))
    if taken:
        raise runner.UsageError(f"{taken[0]} cannot be searched: it is fixed, or it is the data the search splits")
    return metric


def open_study(database: Path, name: str) -> Any:
    """The Optuna study `name` in the SQLite file `database`, created or resumed (maximising)."""
    import optuna
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(STUDY_OPEN_ATTEMPTS):
        try:
            return optuna.create_study(study_name=name, storage=f"sqlite:///{database}", load_if_exists=True,
                                       direction="maximize")
        except (OperationalError, IntegrityError):  # the other process was creating the same tables
            if attempt == STUDY_OPEN_ATTEMPTS - 1:
                raise
            time.sleep(1 + attempt)
    raise AssertionError("unreachable")


def make_sampler(kind: str, seed: int, drawn: int, trials: int) -> Any:
    """Optuna's random or TPE sampler, seeded past the `drawn` trials a resumed study holds, so none is drawn again."""
    import optuna

    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed + drawn)
    startup = min(TPE_RANDOM_MAX, max(TPE_RANDOM_MIN, trials // TPE_RANDOM_EVERY))
    return optuna.samplers.TPESampler(seed=seed + drawn, n_startup_trials=startup)


def run_search(notebook: str, space: dict[str, tuple[str, list[Any]]], trials: int, out: Path,
               profile: str = "ci", fixed: dict[str, Any] | None = None, metric: str | None = None,
               sampler: str = "tpe", validation_fraction: float = VALIDATION_FRACTION, seed: int = 0,
               progress: bool = False) -> dict[str, Any]:
    """An Optuna study of `trials` trials in all (resuming out/study.db), chosen on validation, then one test run.

    Returns (and writes to out/search.json) the best parameters, their validation score and their test score.
    """
    import optuna

    path, fixed, out = runner.notebook_path(notebook), dict(fixed or {}), Path(out).resolve()
    metric = _check_search(path, space, trials, fixed, metric, sampler)
    fit_file, validation_file, test_file, sizes = split_for_choosing(path, profile, fixed, validation_fraction, seed,
                                                                     out)
    choosing = fixed | {"tone_train": str(fit_file), "tone_test": str(validation_file)}
    # Each end of every range (each choice's first and last) is checked as `course run` checks -p values.
    ends = [{name: parts[end] for name, (_, parts) in space.items()} for end in (0, -1)]
    _validate(path, profile, [choosing | values for values in ends])

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the course prints each trial, a failed one with its cell
    out.mkdir(parents=True, exist_ok=True)
    study = open_study(out / "study.db", path.stem)
    finished = [t for t in study.trials if t.state.is_finished()]
    study.sampler = make_sampler(sampler, seed, len(study.trials), trials)
    remaining = max(0, trials - len(finished))
    print(f"course search: {path.stem}, {remaining} trial(s) to run ({len(finished)} in {out / 'study.db'} already), "
          f"maximising validation {metric}; {sizes[0]} rows to train on, {sizes[1]} to choose "
          f"with; the test file is read once, at the end", flush=True)

    def objective(trial: Any) -> float:
        values = suggest(trial, space)
        folder = out / "trials" / f"{trial.number:03d}"
        trial.set_user_attr("folder", str(folder.relative_to(out)))
        outcome = runner.run_notebook(path.stem, profile, choosing | values, folder, progress, source=path)
        score = metric_value(outcome.metrics, metric)
        print(f"trial {trial.number}: {point_name(values)} -> {outcome.status} in {outcome.seconds:.1f} s "
              f"{outcome.detail or f'validation {metric} {score}'}", flush=True)
        if outcome.status != "ok":
            trial.set_user_attr("failure", outcome.detail)
            raise TrialFailed(outcome.detail)
        if not isinstance(score, (int, float)):
            raise TrialFailed(f"{metric} is not a number in metrics.json (got {score!r})")
        return float(score)

    # Another terminal may add trials to the same study: stop when the study holds `trials`, whoever ran them.
    enough = optuna.study.MaxTrialsCallback(trials, states=None)
    study.optimize(objective, n_trials=remaining, catch=(TrialFailed,), callbacks=[enough])
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    atomic_write_text(out / "trials.csv", study.trials_dataframe().to_csv(index=False))
    plots = search_plots(study, out)
    if not complete:
        raise runner.UsageError(f"every trial failed; see {out / 'trials'} (first: "
                             f"{failed[0].user_attrs.get('failure') if failed else 'none ran'})")
    best = study.best_trial
    final = runner.run_notebook(path.stem, profile, fixed | {"tone_train": str(fit_file)} | best.params,
                             out / "final", progress, source=path)
    result = {"notebook": path.stem, "profile": profile, "metric": metric, "sampler": sampler,
              "trials": len(study.trials), "complete": len(complete), "failed": len(failed),
              "best_trial": best.number, "best_params": best.params, "best_validation": best.value,
              "test": metric_value(final.metrics, metric) if final.status == "ok" else None,
              "test_status": final.status, "test_detail": final.detail, "test_file": str(test_file),
              "validation_fraction": validation_fraction, "plots": plots}
    atomic_write_text(out / "search.json", json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nbest: trial {best.number} {best.params}: validation {metric} {best.value:.4g}; on the test set, "
          f"once: {_number(result['test'])} ({final.status})\nwrote {out / 'search.json'}, {out / 'trials.csv'} and "
          f"{', '.join(plots.values())}", flush=True)
    return result


def _number(value: Any) -> str:
    """A score to 4 significant digits; "none" when the run gave none."""
    return "none" if value is None else format(value, ".4g")


def search_plots(study: Any, out: Path) -> dict[str, str]:
    """Optuna's optimisation history and parameter importances (matplotlib), saved beside the study."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as optuna_plots

    plots = {}
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    drawers = {"history": optuna_plots.plot_optimization_history}
    if len(complete) >= 2 and len(study.best_trial.params) >= 1:
        drawers["importances"] = optuna_plots.plot_param_importances
    for name, draw in drawers.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
            try:
                axis = draw(study)
            except (ValueError, RuntimeError) as error:  # e.g. importances when every trial scored the same
                print(f"no {name} plot: {error}")
                continue
        figure = axis.figure if hasattr(axis, "figure") else plt.gcf()
        figure.set_size_inches(6, 3.6)
        figure.tight_layout()
        figure.savefig(out / f"{name}.png", dpi=110)
        plt.close(figure)
        plots[name] = str(out / f"{name}.png")
    return plots


# course report -------------------------------------------------------------------------------------------------


def write_report(folder: Path) -> Path:
    """report.md in a sweep's or a search's folder: what was run, the tables, the plots. Prints the tables."""
    import pandas as pd

    folder = Path(folder).resolve()
    lines = []
    if (folder / "sweep.json").exists():
        setup = json.loads((folder / "sweep.json").read_text())
        table = pd.read_csv(folder / "sweep.csv")
        lines += [f"# Sweep: {setup['notebook']}", "",
                  f"Profile `{setup['profile']}`; swept: " + "; ".join(f"`{k}` = {v}" for k, v in setup["grid"].items())
                  + (f"; fixed: {setup['fixed']}" if setup["fixed"] else "") + ".", "",
                  "## Every run", "", table.to_markdown(index=False), ""]
        if (folder / "summary.csv").exists():
            summary = pd.read_csv(folder / "summary.csv")
            lines += ["## Mean over seeds, with a 95 % t interval", "", summary.to_markdown(index=False, floatfmt=".4g"),
                      "", "![the metrics against the swept parameter](sweep.png)", ""]
        print(table.to_string(index=False))
    elif (folder / "search.json").exists():
        result = json.loads((folder / "search.json").read_text())
        trials = pd.read_csv(folder / "trials.csv")
        shown = [c for c in trials.columns if c in ("number", "value", "state") or c.startswith("params_")]
        lines += [f"# Search: {result['notebook']}", "",
                  f"{result['trials']} trials ({result['failed']} failed), {result['sampler']} sampler, maximising "
                  f"`{result['metric']}` on a {result['validation_fraction']:.0%} stratified validation split of the "
                  "training file.", "",
                  f"**Best:** trial {result['best_trial']}, `{result['best_params']}`: validation "
                  f"{result['best_validation']:.4g}; test (read once, at the end) "
                  f"{_number(result['test'])}.", "",
                  "## Trials", "", trials[shown].to_markdown(index=False), ""]
        lines += [f"![{name}]({Path(p).name})" for name, p in result["plots"].items()] + [""]
        print(trials[shown].to_string(index=False))
    else:
        raise runner.UsageError(f"{folder} holds neither a sweep (sweep.json) nor a search (search.json)")
    report = atomic_write_text(folder / "report.md", "\n".join(lines))
    print(f"\nwrote {report}")
    return report
