"""tools/drift.py (the drift tier, `make test-latest`): its version parsing, attribution and table, offline and fast."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_drift() -> ModuleType:
    """tools/ is not a package: load tools/drift.py by path."""
    spec = importlib.util.spec_from_file_location("drift", ROOT / "tools" / "drift.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["drift"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


drift = load_drift()

PYTEST_FAIL = """\
..F.....E
FAILED tests/test_train.py::test_lora_trains - AttributeError: 'X' has no attribute 'y'
ERROR tests/test_models.py::test_load - OSError: nope
=== 1 failed, 40 passed, 3 deselected, 1 error in 12.34s ===
"""
PYTEST_PASS = "........\n41 passed, 3 deselected in 9.10s\n"
COURSE_FAIL = """\
course run: 2 notebook(s), profile ci, model course-tiny, results in /x
[1/2] 01_intro ...
[1/2] 01_intro ok in 12.3 s
[2/2] 03_lora ...
[2/2] 03_lora FAILED in 4.0 s cell 14: TypeError: __init__() got an unexpected keyword argument 'tokenizer'
"""


def passed_run() -> drift.RunResult:
    """A run where 41 unit tests and two lessons passed."""
    return drift.RunResult(tests={"passed": 41}, lessons=[drift.LessonResult("01_intro", "ok", 1.0),
                                                          drift.LessonResult("02_sft", "ok", 2.0)])


def failed_run() -> drift.RunResult:
    """A run where the unit tests passed and lesson 03 failed at cell 14."""
    return drift.RunResult(tests={"passed": 41}, lessons=drift.parse_course_output(COURSE_FAIL))


def test_parse_pins_reads_name_version_in_file_order_and_skips_comments_and_editables() -> None:
    text = "# header\ntorch==2.13.0   # every lesson\nOnnxruntime_GenAI==0.18.0\n\n-e .   # the course\n"
    assert drift.parse_pins(text) == {"torch": "2.13.0", "onnxruntime-genai": "0.18.0"}
    assert list(drift.parse_pins(text)) == ["torch", "onnxruntime-genai"]


def test_parse_pins_names_the_line_that_is_not_a_pin() -> None:
    with pytest.raises(ValueError, match=r"requirements line 2: expected name==version \(got 'numpy>=2'\)"):
        drift.parse_pins("torch==2.13.0\nnumpy>=2\n")


def test_requirements_pin_every_package_the_drift_tier_moves() -> None:
    pins = drift.parse_pins((ROOT / "requirements.txt").read_text())
    assert set(drift.HF_STACK) | set(drift.HELD) <= set(pins)
    assert drift.HELD["torch"] == pins["torch"], "the latest tier holds torch at the course's CPU wheel"


@pytest.mark.parametrize("requirement, lowest", [
    ("transformers>=5.23,<=5.24.0", "5.23"),
    ("torch==2.13.0", "2.13.0"),
    ("peft~=0.21.0", "0.21.0"),
    ("numpy>=2.0,>=2.4.6", "2.4.6"),  # the tighter of two lower ends
    ("trl<2", None),
    ("trl>1.0", None),  # an exclusive bound names no installable version
])
def test_lower_bound(requirement: str, lowest: str | None) -> None:
    assert drift.lower_bound(requirement) == lowest


PYPROJECT = """\
[project]
name = "x"
dependencies = ["Transformers>=5.23,<=5.24.0", "tqdm"]

[project.optional-dependencies]
torch = ["torch>=2.11.0,<=2.13.0"]
"""


def test_declared_ranges_and_lower_bounds_read_dependencies_and_extras_by_canonical_name() -> None:
    assert drift.declared_ranges(PYPROJECT) == {"transformers": ">=5.23,<=5.24.0", "tqdm": "",
                                                "torch": ">=2.11.0,<=2.13.0"}
    assert drift.declared_ranges(PYPROJECT, extras=False) == {"transformers": ">=5.23,<=5.24.0", "tqdm": ""}
    assert drift.declared_lower_bounds(PYPROJECT) == {"transformers": "5.23", "torch": "2.11.0"}
    assert drift.declared_lower_bounds('[project]\nname = "x"\ndependencies = []\n') == {}


def test_outside_a_declared_range() -> None:
    assert drift.outside("5.24.0", ">=5.23.0,<=5.23.0")
    assert not drift.outside("5.24.0", ">=5.23,<=5.24.0")
    assert not drift.outside("5.24.0", "") and not drift.outside("5.24.0", None), "no range: never outside"


def test_environment_checks_are_due_to_fail_only_off_the_pins_or_ranges() -> None:
    pins_test = "tests/test_doctor.py::test_the_installed_environment_matches_the_pins"
    ranges_test = ("tests/test_hosted.py::"
                   "test_the_hosted_requirements_install_nothing_torch_related_where_torch_is_installed")
    torch_test = "tests/test_doctor.py::test_summary_line_names_device_and_versions"
    failed = [pins_test, ranges_test, torch_test, "tests/test_train.py::test_lora_trains"]
    assert drift.expected_failures(failed, {"torch"}, off_range=True) == [pins_test, ranges_test, torch_test]
    assert drift.expected_failures(failed, {"transformers"}, off_range=False) == [pins_test], "torch is at its pin"
    assert drift.expected_failures(failed, set(), off_range=False) == []


def test_every_environment_check_names_a_test_that_exists() -> None:
    for test, condition in drift.ENVIRONMENT_TESTS.items():
        path, name = test.split("::")
        assert f"def {name}(" in (ROOT / path).read_text(), f"{test} is gone: update ENVIRONMENT_TESTS"
        assert condition in ("pins", "ranges") or condition.startswith("pin:")


def test_a_run_with_only_due_failures_passes_and_says_so() -> None:
    pins_test = next(iter(drift.ENVIRONMENT_TESTS))
    result = drift.RunResult(tests={"failed": 1, "passed": 40}, failed_tests=[pins_test], expected=[pins_test],
                             lessons=[drift.LessonResult("01_intro", "ok", 1.0)])
    assert result.passed and drift.failure_summary(result) == ""
    assert f"Due to fail off the pins or ranges, not counted: {pins_test}." in drift.outcome_line(result)
    result.expected = []
    assert not result.passed
    result = drift.RunResult(tests={"failed": 2}, failed_tests=[pins_test], expected=[pins_test])
    assert not result.passed, "a failure pytest counted but did not name is not excused"


def test_parse_index_versions_takes_the_newest_from_pips_first_line() -> None:
    output = "transformers (5.24.0)\nAvailable versions: 5.24.0, 5.23.0\n  INSTALLED: 5.23.0\n  LATEST: 5.24.0\n"
    assert drift.parse_index_versions(output) == "5.24.0"
    with pytest.raises(ValueError, match="no `name \\(version\\)` line"):
        drift.parse_index_versions("ERROR: No matching distribution found for nosuch\n")


def test_parse_overrides() -> None:
    assert drift.parse_overrides(["Torch==2.11.0"]) == {"torch": "2.11.0"}
    with pytest.raises(ValueError, match=r"--set takes name==version \(got 'torch>=2'\)"):
        drift.parse_overrides(["torch>=2"])


def test_plan_versions_replaces_targets_keeps_order_and_refuses_unpinned_names() -> None:
    pins = {"torch": "2.13.0", "transformers": "5.23.0", "numpy": "2.4.6"}
    planned = drift.plan_versions(pins, {"transformers": "5.24.0"})
    assert planned == {"torch": "2.13.0", "transformers": "5.24.0", "numpy": "2.4.6"}
    assert drift.render_requirements(planned) == "torch==2.13.0\ntransformers==5.24.0\nnumpy==2.4.6\n"
    with pytest.raises(ValueError, match="not pinned in requirements.txt: vllm"):
        drift.plan_versions(pins, {"vllm": "1.0"})


def test_compare_orders_versions_not_strings() -> None:
    assert drift.compare("5.9.0", "5.10.0") == "newer"
    assert drift.compare("2.13.0", "2.11.0") == "older"
    assert drift.compare("5.23", "5.23.0") == "same"


def test_parse_pytest_output_counts_and_failed_ids() -> None:
    counts, failed = drift.parse_pytest_output(PYTEST_FAIL)
    assert counts == {"failed": 1, "passed": 40, "deselected": 3, "error": 1}
    assert failed == ["tests/test_train.py::test_lora_trains", "tests/test_models.py::test_load"]
    assert drift.parse_pytest_output(PYTEST_PASS) == ({"passed": 41, "deselected": 3}, [])
    assert drift.parse_pytest_output("ImportError while loading conftest\n") == ({}, [])


def test_parse_course_output_reads_each_lessons_final_line_with_its_failing_cell() -> None:
    lessons = drift.parse_course_output(COURSE_FAIL)
    assert [(lesson.stem, lesson.status, lesson.seconds) for lesson in lessons] == [("01_intro", "ok", 12.3),
                                                                                    ("03_lora", "FAILED", 4.0)]
    assert lessons[1].detail == "cell 14: TypeError: __init__() got an unexpected keyword argument 'tokenizer'"


def test_a_run_passes_only_with_unit_test_results_no_failures_and_every_lesson_ok() -> None:
    assert passed_run().passed
    assert not failed_run().passed
    assert not drift.RunResult(tests={}, lessons=[]).passed, "no pytest summary is not a pass"
    assert not drift.RunResult(tests={"passed": 3, "error": 1}).passed


def test_a_course_that_exits_non_zero_without_a_failed_lesson_is_a_failure() -> None:
    result = drift.RunResult(tests={"passed": 41}, course_code=2)  # e.g. course-tiny could not be built: no lesson ran
    assert not result.passed
    assert drift.failure_summary(result) == "ci course exited with 2 (see drift.log)"
    assert drift.RunResult(tests={"passed": 41}, course_ran=False).passed, "--skip-course: the unit tests decide"


def test_row_result_says_same_held_or_what_the_moved_set_did() -> None:
    assert drift.row_result("5.23.0", "5.23.0", "5.23.0", failed_run()) == "same as pin"
    assert drift.row_result("2.13.0", "2.13.0", "2.15.0", passed_run()) == "held at 2.13.0: 2.15.0 not tested"
    assert drift.row_result("5.23.0", "5.24.0", "5.24.0", passed_run()) == "newer: unit tests and ci course passed"
    assert drift.row_result("2.13.0", "2.11.0", "2.11.0", passed_run()).startswith("older: ")
    assert drift.row_result("5.23.0", "5.24.0", "5.24.0", passed_run(), ">=5.23.0,<=5.23.0") == (
        "newer (outside the declared >=5.23.0,<=5.23.0): unit tests and ci course passed")
    failed = drift.row_result("5.23.0", "5.24.0", "5.24.0", failed_run())
    assert failed == ("newer: FAILED with the others moved: 03_lora cell 14: TypeError: __init__() got an "
                      "unexpected keyword argument 'tokenizer'")


def test_failure_summary_lists_failed_tests_and_lessons() -> None:
    counts, failed = drift.parse_pytest_output(PYTEST_FAIL)
    result = drift.RunResult(tests=counts, failed_tests=failed, lessons=drift.parse_course_output(COURSE_FAIL))
    assert drift.failure_summary(result) == (
        "unit tests: 2 failed (tests/test_train.py::test_lora_trains, tests/test_models.py::test_load); "
        "03_lora cell 14: TypeError: __init__() got an unexpected keyword argument 'tokenizer'")
    assert drift.failure_summary(passed_run()) == ""


def test_table_rows_and_markdown() -> None:
    pins = {"transformers": "5.23.0", "trl": "1.16.0", "torch": "2.13.0"}
    tested = {"transformers": "5.24.0", "trl": "1.16.0", "torch": "2.13.0"}
    shown = {"transformers": "5.24.0", "trl": "1.16.0", "torch": "2.15.0"}
    rows = drift.table_rows(pins, tested, shown, ["transformers", "trl", "torch"], passed_run())
    assert rows == [("transformers", "5.23.0", "5.24.0", "newer: unit tests and ci course passed"),
                    ("trl", "1.16.0", "1.16.0", "same as pin"),
                    ("torch", "2.13.0", "2.15.0", "held at 2.13.0: 2.15.0 not tested")]
    table = drift.format_table("latest", rows).splitlines()
    assert table[:2] == ["| package | pinned | latest | result |", "|---|---|---|---|"]
    assert table[2] == "| transformers | 5.23.0 | 5.24.0 | newer: unit tests and ci course passed |"
    assert len(table) == 5


def test_unpinned_moves_lists_only_unpinned_packages_that_changed() -> None:
    baseline = {"huggingface-hub": "1.2.0", "torch": "2.13.0", "rich": "14.0.0", "gone": "1.0"}
    tested = {"huggingface-hub": "1.3.1", "torch": "2.11.0", "rich": "14.0.0", "new": "2.0"}
    assert drift.unpinned_moves(baseline, tested, {"torch": "2.13.0"}) == [("huggingface-hub", "1.2.0", "1.3.1")]


def test_parse_freeze_skips_editable_and_url_lines() -> None:
    text = "Torch==2.13.0+cpu\n-e git+https://x#egg=course_utils\nfoo @ file:///tmp/foo.whl\nnumpy==2.4.6\n"
    assert drift.parse_freeze(text) == {"torch": "2.13.0+cpu", "numpy": "2.4.6"}


def test_outcome_line_gives_counts_lessons_and_times() -> None:
    result = failed_run()
    result.seconds = {"venv": 120.0, "unit tests": 300.0}
    line = drift.outcome_line(result)
    assert line.startswith("Unit tests: 41 passed. ci course: 1/2 lessons ok (03_lora cell 14: TypeError: ")
    assert line.endswith("Took: venv 2.0 min, unit tests 5.0 min.")
    assert "ci course: not run" in drift.outcome_line(drift.RunResult(tests={"passed": 1}, course_ran=False))


def test_tier_packages_lists_the_stack_then_other_moved_packages() -> None:
    packages = drift.tier_packages({"torch": "2.11.0", "numpy": "2.0.0"})
    assert packages[:len(drift.HF_STACK)] == list(drift.HF_STACK)
    assert packages[len(drift.HF_STACK):] == ["torch", "numpy"]


def test_report_text_says_the_packages_moved_together() -> None:
    rows = [("torch", "2.13.0", "2.11.0", "older: unit tests and ci course passed")]
    text = drift.report_text("oldest", "2026-12-02", rows, passed_run(), [("sympy", "1.14.0", "1.13.1")])
    assert text.startswith("Drift tier `oldest`, 2026-12-02. The packages below moved together, so a failure belongs "
                           "to all rows marked older")
    assert "| package | pinned | oldest | result |" in text
    assert text.rstrip().endswith("sympy 1.14.0 -> 1.13.1.")


def test_unit_test_expression_leaves_out_every_tier_but_slow() -> None:
    """A tier added to pyproject.toml is either run by the drift tier's unit tests on purpose or left out here."""
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
    names = {marker.split(":", 1)[0] for marker in markers}
    left_out = set(drift.UNIT_TESTS.replace("not ", "").split(" and "))
    assert names - left_out == {"slow"}, "slow unit tests stay in; the lessons run as the ci course instead"


def test_a_lesson_whose_claims_fail_is_marked_with_the_failing_assertion() -> None:
    lessons = [drift.LessonResult("01_intro", "ok", 7.5), drift.LessonResult("03_lora", "ok", 91.0),
               drift.LessonResult("05_export", "FAILED", 3.0, "cell 12: KeyError: 'x'")]
    drift.apply_claims(lessons, "claims 01_intro ok\nclaims 03_lora FAILED tests/test_notebooks.py:190: assert a > b\n"
                                "claims 05_export FAILED tests/test_notebooks.py:250: assert c\n")
    assert [(lesson.stem, lesson.status, lesson.detail) for lesson in lessons] == [
        ("01_intro", "ok", ""), ("03_lora", "CLAIMS FAILED", "tests/test_notebooks.py:190: assert a > b"),
        ("05_export", "FAILED", "cell 12: KeyError: 'x'")]  # a lesson that failed to run keeps its own failure
    assert not drift.RunResult(tests={"passed": 1}, lessons=lessons, course_code=0).passed
