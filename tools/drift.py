"""The drift tier: does the course still run on the newest (or the oldest declared) releases of its libraries?

    python tools/drift.py latest                  .venv-latest: the HF stack at its newest release, torch held
    python tools/drift.py oldest                  .venv-oldest: every package at the lowest version declared
    python tools/drift.py oldest --set torch==2.11.0     the same, with one version chosen by hand
    python tools/drift.py latest --skip-course    only the unit tests

Each run builds (or reuses, when its requirements are unchanged) a separate virtual environment from requirements.txt
with some pins replaced, installs the course there with `pip install --no-deps -e .`, runs the unit tests and the ci
course in it, and prints one markdown table: package, pinned, tested version, result. The table is also written to
runs/<tier>/drift.md. Every replaced package is upgraded (or downgraded) at once, so a failure belongs to the set of
rows marked "newer" (or "older"), not to one of them. The tests that assert the environment holds the declared
versions (ENVIRONMENT_TESTS) still run; their failure off the pins or ranges is reported apart and not counted.
A tested version outside pyproject.toml's declared range says so in its row. Exit status: 0 when the unit tests (those
checks aside) and every lesson passed.

A maintainer tool: lessons and course_utils never import it. Its table logic is tested in tests/test_drift.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from course_utils import hosted
from course_utils.doctor import parse_pins

ROOT = Path(__file__).resolve().parents[1]
# The packages the latest tier moves to their newest release; everything else keeps its pin.
HF_STACK = (
    "transformers", "trl", "peft", "accelerate", "datasets", "bitsandbytes", "onnxruntime-genai", "optuna",
    "papermill", "nbconvert", "jupyterlab",
)
# torch stays at the local CPU wheel in the latest tier: any other version pulls a multi-GB CUDA build.
HELD = {"torch": "2.13.0"}
# The unit tests: every tier of `make test` that neither runs lessons (the ci course below does that) nor needs the
# real SLM, a browser, network namespaces, llama.cpp (the drift environments do not build it) or hours.
UNIT_TESTS = "not notebooks and not real and not cpu and not gpu_path and not exercises and not browser and not labs " \
             "and not offline and not gguf"
# Tests that assert the environment holds the declared versions. Moving packages is the drift tier's purpose, so they
# fail there by design; they still run, and the report names them apart from real failures, under this condition:
# "pins" while any package is off its requirements.txt pin, "pin:NAME" while NAME is, "ranges" while one of
# [project] dependencies (what requirements-hosted.txt installs) lies outside its declared range. A test renamed or
# failing outside its condition counts as a real failure.
ENVIRONMENT_TESTS = {
    "tests/test_doctor.py::test_the_installed_environment_matches_the_pins": "pins",
    "tests/test_hosted.py::test_the_hosted_requirements_install_nothing_torch_related_where_torch_is_installed":
        "ranges",
    # these three expect `[OK] torch: 2.13.0` / `torch 2.13.0` from the installed torch
    "tests/test_cli.py::test_doctor_prints_ok_lines_and_exits_zero": "pin:torch",
    "tests/test_doctor.py::test_package_checks_say_ok_warn_or_fail": "pin:torch",
    "tests/test_doctor.py::test_summary_line_names_device_and_versions": "pin:torch",
}
LESSON_LINE = re.compile(r"^\[(\d+)/(\d+)\] (\S+) (ok|FAILED|NO METRICS) in ([\d.]+) s ?(.*)$")
CLAIM_LINE = re.compile(r"^claims (\S+) (ok|FAILED) ?(.*)$")
# Run in the drift venv after the ci course: every lesson's claims, asserted by the same check functions as the
# notebook tests (tests/test_notebooks.py), on the metrics this venv's run wrote.
CLAIMS_SCRIPT = """
import json, sys, traceback
from pathlib import Path
sys.path.insert(0, "tests")
import test_notebooks
out = Path(sys.argv[1])
for stem, check in test_notebooks.CHECKS.items():
    folder = out / stem
    if (folder / "metrics.json").exists():
        try:
            check(json.loads((folder / "metrics.json").read_text()), folder / f"{stem}.ipynb")
            print(f"claims {stem} ok")
        except AssertionError as error:
            where = traceback.extract_tb(error.__traceback__)[-1]
            print(f"claims {stem} FAILED tests/test_notebooks.py:{where.lineno}: {where.line}")
"""
PYTEST_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|deselected|xfailed|xpassed)")


@dataclass
class LessonResult:
    """One lesson of the ci course: its status and, when it failed, `cell N: Error: last line`."""

    stem: str
    status: str
    seconds: float
    detail: str = ""


@dataclass
class RunResult:
    """What the unit tests and the ci course did in one environment."""

    tests: dict[str, int] = field(default_factory=dict)
    failed_tests: list[str] = field(default_factory=list)
    lessons: list[LessonResult] = field(default_factory=list)
    course_ran: bool = True
    seconds: dict[str, float] = field(default_factory=dict)
    expected: list[str] = field(default_factory=list)  # failed environment tests that were due to fail
    course_code: int | None = None  # `course run`'s exit status; None when it was skipped

    @property
    def unexpected_tests(self) -> list[str]:
        """Failed or errored tests that were not due to fail."""
        return [test for test in self.failed_tests if test not in self.expected]

    @property
    def passed(self) -> bool:
        """True when pytest reported, every failed test was due to fail, and the course (unless skipped) exited 0
        with every lesson ok."""
        bad = self.tests.get("failed", 0) + self.tests.get("error", 0)
        tests_ok = bool(self.tests) and bad == len(self.failed_tests) and not self.unexpected_tests
        return tests_ok and self.course_code in (None, 0) and all(lesson.status == "ok" for lesson in self.lessons)


# --- versions ----------------------------------------------------------------------------------------------------


def lower_bound(requirement: str) -> str | None:
    """The lowest version a requirement string allows (`>=`, `==`, `~=`; a `>` bound is not a version), else None."""
    specs = Requirement(requirement).specifier
    candidates = [spec.version for spec in specs if spec.operator in ("==", ">=", "~=") and "*" not in spec.version]
    return str(max(candidates, key=Version)) if candidates else None


def declared_ranges(pyproject_text: str, extras: bool = True) -> dict[str, str]:
    """The version ranges pyproject.toml declares, by canonical name: [project] dependencies and, with `extras`, every
    optional-dependencies group (torch's range lives in one). The course's own reader (course_utils.hosted)."""
    return hosted.ranges_in(pyproject_text, None if extras else ())


def declared_lower_bounds(pyproject_text: str) -> dict[str, str]:
    """Lower ends of the declared ranges (dependencies and extras), by canonical name; unbounded ones left out."""
    bounds = {name: lower_bound(f"{name}{spec}") for name, spec in declared_ranges(pyproject_text).items()}
    return {name: bound for name, bound in bounds.items() if bound is not None}


def outside(version: str, spec: str | None) -> bool:
    """Whether a version lies outside a declared range (no range: never)."""
    return bool(spec) and hosted.outside_range(spec, version)


def expected_failures(failed: Sequence[str], off_pin: set[str], off_range: bool) -> list[str]:
    """The failed tests that are environment tests due to fail here (see ENVIRONMENT_TESTS); `off_pin` names the
    packages that are not at their pin."""

    def due(condition: str) -> bool:
        if condition == "pins":
            return bool(off_pin)
        if condition.startswith("pin:"):
            return condition.removeprefix("pin:") in off_pin
        return condition == "ranges" and off_range

    return [test for test in failed if test.split("[")[0] in ENVIRONMENT_TESTS
            and due(ENVIRONMENT_TESTS[test.split("[")[0]])]


def parse_index_versions(output: str) -> str:
    """The newest version from `pip index versions NAME` output (its first line reads `NAME (VERSION)`)."""
    match = re.search(r"^\S+ \(([^)]+)\)\s*$", output, flags=re.MULTILINE)
    if not match:
        raise ValueError(f"pip index versions printed no `name (version)` line: {output.strip()[:200]!r}")
    return match.group(1)


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """`--set name==version` values by canonical name."""
    overrides = {}
    for item in items:
        name, separator, version = item.partition("==")
        if not separator or not name or not version:
            raise ValueError(f"--set takes name==version (got {item!r})")
        overrides[canonicalize_name(name)] = version
    return overrides


def plan_versions(pins: dict[str, str], targets: dict[str, str]) -> dict[str, str]:
    """The pins with the targets applied; a target for a package that is not pinned is an error."""
    unknown = sorted(set(targets) - set(pins))
    if unknown:
        raise ValueError(f"not pinned in requirements.txt: {', '.join(unknown)}; pinned: {', '.join(pins)}")
    return {name: targets.get(name, version) for name, version in pins.items()}


def render_requirements(versions: dict[str, str]) -> str:
    """A requirements file of `name==version` lines (the course itself is installed apart, with --no-deps)."""
    return "".join(f"{name}=={version}\n" for name, version in versions.items())


def parse_freeze(text: str) -> dict[str, str]:
    """`pip freeze` output as versions by canonical name (editable and URL lines skipped)."""
    frozen = {}
    for line in text.splitlines():
        name, separator, version = line.strip().partition("==")
        if separator:
            frozen[canonicalize_name(name)] = version
    return frozen


def compare(left: str, right: str) -> str:
    """`same`, `newer` or `older`: right against left."""
    a, b = Version(left), Version(right)
    return "same" if a == b else ("newer" if b > a else "older")


# --- results -----------------------------------------------------------------------------------------------------


def parse_pytest_output(text: str) -> tuple[dict[str, int], list[str]]:
    """Counts from pytest's last summary line (`3 passed, 1 failed in 2.0s`) and the ids of failed tests."""
    counts: dict[str, int] = {}
    summary = [line for line in text.splitlines() if re.search(r"\d+ (passed|failed|errors?)\b", line)]
    if summary:
        for number, word in PYTEST_COUNT.findall(summary[-1]):
            counts["error" if word.startswith("error") else word] = int(number)
    failed = [line.split()[1] for line in text.splitlines() if re.match(r"^(FAILED|ERROR) \S+", line)]
    return counts, failed


def parse_course_output(text: str) -> list[LessonResult]:
    """The per-lesson lines `course run` prints: `[3/8] 03_lora FAILED in 12.0 s cell 14: KeyError: 'x'`."""
    lessons = []
    for line in text.splitlines():
        match = LESSON_LINE.match(line.strip())
        if match:
            lessons.append(LessonResult(match[3], match[4], float(match[5]), match[6].strip()))
    return lessons


def apply_claims(lessons: list[LessonResult], text: str) -> None:
    """Mark each lesson whose claims failed (`claims 03_lora FAILED tests/test_notebooks.py:190: assert ...`)."""
    failed = {match[1]: match[3] for match in map(CLAIM_LINE.match, text.splitlines()) if match and match[2] != "ok"}
    for lesson in lessons:
        if lesson.status == "ok" and lesson.stem in failed:
            lesson.status, lesson.detail = "CLAIMS FAILED", failed[lesson.stem]


def failure_summary(result: RunResult) -> str:
    """`unit tests: 2 failed (tests/x.py::t, …); 03_lora cell 14: KeyError: 'x'`, or "" when all passed."""
    parts = []
    if not result.tests:
        parts.append("unit tests did not report")
    else:
        bad = result.tests.get("failed", 0) + result.tests.get("error", 0) - len(result.expected)
        unexpected = result.unexpected_tests
        shown = ", ".join(unexpected[:3]) + (", …" if len(unexpected) > 3 else "")
        if bad > 0:
            parts.append(f"unit tests: {bad} failed" + (f" ({shown})" if shown else ""))
    for lesson in result.lessons:
        if lesson.status != "ok":
            parts.append(f"{lesson.stem} {lesson.detail or lesson.status}".strip())
    if result.course_code not in (None, 0) and all(lesson.status == "ok" for lesson in result.lessons):
        parts.append(f"ci course exited with {result.course_code} (see drift.log)")
    return "; ".join(parts)


def row_result(pinned: str, tested: str, shown: str, result: RunResult, spec: str | None = None) -> str:
    """The result cell of one package: same as pin, held (shown is not what was tested), or what the run did;
    a tested version outside the declared range `spec` says so."""
    if shown != tested:
        return f"held at {tested}: {shown} not tested"
    relation = compare(pinned, tested)
    if relation == "same":
        return "same as pin"
    if outside(tested, spec):
        relation += f" (outside the declared {spec})"
    if result.passed:
        return f"{relation}: unit tests and ci course passed" if result.course_ran else f"{relation}: unit tests passed"
    return f"{relation}: FAILED with the others moved: {failure_summary(result)}"


def table_rows(pins: dict[str, str], tested: dict[str, str], shown: dict[str, str], packages: Sequence[str],
               result: RunResult, ranges: dict[str, str] | None = None) -> list[tuple[str, str, str, str]]:
    """One row per package: name, pinned, the version shown (newest on PyPI, or oldest declared), result.

    `tested` is what the drift venv holds; a package missing from `shown` shows that.
    """
    rows = []
    for name in packages:
        version = shown.get(name, tested[name])
        cell = row_result(pins[name], tested[name], version, result, (ranges or {}).get(name))
        rows.append((name, pins[name], version, cell))
    return rows


def unpinned_moves(baseline: dict[str, str], tested: dict[str, str],
                   pins: dict[str, str]) -> list[tuple[str, str, str]]:
    """Packages requirements.txt does not pin whose version differs between the course's venv and the drift venv."""
    return [(name, baseline[name], tested[name]) for name in sorted(set(baseline) & set(tested))
            if name not in pins and baseline[name] != tested[name]]


def format_table(header: str, rows: Sequence[tuple[str, str, str, str]]) -> str:
    """A markdown table: package | pinned | <header> | result."""
    lines = [f"| package | pinned | {header} | result |", "|---|---|---|---|"]
    lines += [f"| {name} | {pinned} | {shown} | {result} |" for name, pinned, shown, result in rows]
    return "\n".join(lines)


def outcome_line(result: RunResult) -> str:
    """One line: the unit tests' counts and the lessons' outcomes, with how long each took."""
    counts = ", ".join(f"{n} {word}" for word, n in result.tests.items()) or "no result"
    ok = sum(lesson.status == "ok" for lesson in result.lessons)
    if result.course_ran:
        lessons = f"ci course: {ok}/{len(result.lessons)} lessons ok"
        bad = [f"{lesson.stem} {lesson.detail or lesson.status}" for lesson in result.lessons if lesson.status != "ok"]
        lessons += f" ({'; '.join(bad)})" if bad else ""
    else:
        lessons = "ci course: not run"
    timing = ", ".join(f"{step} {seconds / 60:.1f} min" for step, seconds in result.seconds.items())
    due = f" Due to fail off the pins or ranges, not counted: {', '.join(result.expected)}." if result.expected else ""
    return f"Unit tests: {counts}.{due} {lessons}. Took: {timing}."


# --- running -----------------------------------------------------------------------------------------------------


def run_logged(command: Sequence[str], log: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run a command from the course folder, echo its output and keep it in `log`; return the exit code and output."""
    print("$ " + shlex.join(command), flush=True)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    lines = []
    with open(log, "a") as handle:
        for line in process.stdout:  # type: ignore[union-attr]
            sys.stdout.write(line)
            handle.write(line)
            lines.append(line)
    return process.wait(), "".join(lines)


def run_checked(command: Sequence[str], log: Path) -> None:
    """Run a set-up command; stop the tier with the command and the log's path when it fails."""
    code, _ = run_logged(command, log)
    if code != 0:
        raise RuntimeError(f"{shlex.join(command)} exited with {code}; see {log}")


def newest_release(name: str) -> str:
    """The newest release of a package on the index pip is configured with (`pip index versions`)."""
    output = subprocess.run([sys.executable, "-m", "pip", "index", "versions", name], capture_output=True,
                            text=True, timeout=120)
    if output.returncode != 0:
        raise RuntimeError(f"pip index versions {name} failed: {output.stderr.strip()[-300:]}")
    return parse_index_versions(output.stdout)


def build_venv(venv: Path, requirements: str, held: dict[str, str], log: Path, python: str = "python3",
               use_cache: bool = True) -> None:
    """Create `venv` and install the requirements, the held versions as constraints, the course with --no-deps.

    Skipped when the venv was built from the same requirements before (its `.drift-requirements.txt`). Without
    `use_cache` nothing goes to pip's cache (a CUDA build of torch would leave gigabytes there).
    """
    stamp = venv / ".drift-requirements.txt"
    if stamp.exists() and stamp.read_text() == requirements:
        print(f"{venv.name}: already built from these requirements", flush=True)
        return
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"] + ([] if use_cache else ["--no-cache-dir"])
    run_checked([python, "-m", "venv", "--clear", str(venv)], log)
    constraints, wanted = venv / "drift-constraints.txt", venv / "drift-requirements.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in held.items()))
    wanted.write_text(requirements)
    run_checked(pip + [f"{name}=={version}" for name, version in held.items()], log)
    run_checked(pip + ["-r", str(wanted), "-c", str(constraints)], log)
    run_checked(pip + ["--no-deps", "-e", str(ROOT)], log)
    stamp.write_text(requirements)


def drift_env(venv: Path) -> dict[str, str]:
    """The environment for the tests and lessons: the drift venv first on PATH, offline hub, its own model cache."""
    return {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "VIRTUAL_ENV": str(venv),
            "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            # course-tiny is built by this venv's libraries, not read from the course's .cache/models
            "COURSE_CACHE": str(venv / "course-cache" / "models")}


def run_checks(venv: Path, out: Path, log: Path, skip_course: bool) -> RunResult:
    """The unit tests, then the ci course, in the drift venv."""
    env, result = drift_env(venv), RunResult()
    started = time.perf_counter()
    _, text = run_logged([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-m", UNIT_TESTS], log, env)
    result.seconds["unit tests"] = time.perf_counter() - started
    result.tests, result.failed_tests = parse_pytest_output(text)
    if skip_course:
        result.course_ran = False
        return result
    started = time.perf_counter()
    result.course_code, text = run_logged([str(venv / "bin" / "course"), "run", "--profile", "ci", "--out", str(out)],
                                          log, env)
    result.seconds["ci course"] = time.perf_counter() - started
    result.lessons = parse_course_output(text)
    _, claims = run_logged([str(venv / "bin" / "python"), "-c", CLAIMS_SCRIPT, str(out)], log, env)
    apply_claims(result.lessons, claims)
    return result


def freeze(python: Path) -> dict[str, str]:
    """`pip freeze --all` of an environment (pip and setuptools included), or {} when it has none."""
    if not python.exists():
        return {}
    output = subprocess.run([str(python), "-m", "pip", "freeze", "--all"], capture_output=True, text=True)
    return parse_freeze(output.stdout)


def tier_targets(tier: str, pins: dict[str, str], overrides: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(versions to install, versions to show): the newest HF stack with torch held, or the declared lower ends."""
    if tier == "latest":
        shown = {canonicalize_name(name): newest_release(name) for name in (*HF_STACK, *HELD)}
        targets = {name: version for name, version in shown.items() if name not in HELD}
        return {**targets, **HELD, **overrides}, {**shown, **overrides}
    bounds = declared_lower_bounds((ROOT / "pyproject.toml").read_text())
    targets = {name: bound for name, bound in bounds.items() if name in pins and compare(pins[name], bound) != "same"}
    targets.update(overrides)
    return targets, targets


def tier_packages(targets: dict[str, str]) -> list[str]:
    """The table's rows: the HF stack and the held packages, then any other package the tier moved."""
    names = [canonicalize_name(name) for name in (*HF_STACK, *HELD)]
    return names + [name for name in targets if name not in names]


def report_text(tier: str, date: str, rows: Sequence[tuple[str, str, str, str]], result: RunResult,
                moved: Sequence[tuple[str, str, str]]) -> str:
    """The table, the outcome line and the unpinned packages that moved, as printed and written to drift.md."""
    direction = "newer" if tier == "latest" else "older"
    lines = [f"Drift tier `{tier}`, {date}. The packages below moved together, so a failure belongs to all rows marked "
             f"{direction}, not to one of them.", "", format_table(tier, rows), "", outcome_line(result)]
    if moved:
        lines += ["", "Unpinned dependencies that moved with them (course .venv -> drift venv): "
                  + ", ".join(f"{name} {a} -> {b}" for name, a, b in moved) + "."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Build the tier's venv, run the checks there, print the table and write it to runs/<tier>/drift.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tier", choices=["latest", "oldest"])
    parser.add_argument("--set", action="append", default=[], metavar="NAME==VERSION",
                        help="install this version instead (repeatable); in latest it also lifts a hold")
    parser.add_argument("--skip-course", action="store_true", help="run only the unit tests")
    parser.add_argument("--python", default="python3", help="the interpreter the venv is made with")
    args = parser.parse_args(argv)

    pins = parse_pins((ROOT / "requirements.txt").read_text())
    targets, shown = tier_targets(args.tier, pins, parse_overrides(args.set))
    versions = plan_versions(pins, targets)
    venv, out = ROOT / f".venv-{args.tier}", ROOT / "runs" / args.tier
    out.mkdir(parents=True, exist_ok=True)
    log = out / "drift.log"
    log.write_text("")

    started = time.perf_counter()
    held = {name: versions[name] for name in HELD}
    build_venv(venv, render_requirements(versions), held, log, args.python, use_cache=args.tier == "latest")
    build_seconds = time.perf_counter() - started
    result = run_checks(venv, out, log, args.skip_course)
    result.seconds = {"venv": build_seconds, **result.seconds}

    installed = freeze(venv / "bin" / "python")
    tested = {name: installed.get(name, versions[name]).split("+")[0] for name in pins}
    pyproject = (ROOT / "pyproject.toml").read_text()
    ranges, core = declared_ranges(pyproject), declared_ranges(pyproject, extras=False)
    off_pin = {name for name in pins if compare(pins[name], tested[name]) != "same"}
    result.expected = expected_failures(result.failed_tests, off_pin,
                                        off_range=any(outside(tested[n], core.get(n)) for n in tested))
    rows = table_rows(pins, tested, shown, tier_packages(targets), result, ranges)
    moved = unpinned_moves(freeze(ROOT / ".venv" / "bin" / "python"), installed, pins)
    text = report_text(args.tier, time.strftime("%Y-%m-%d"), rows, result, moved)
    print("\n" + text)
    (out / "drift.md").write_text(text)
    (out / "drift.json").write_text(json.dumps({"tier": args.tier, "rows": rows, "passed": result.passed}, indent=1))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
