"""Course conventions: clean lesson notebooks with a parameters cell, the two commands, mirrored pins, offline."""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import pytest

from course_utils import lessons

ROOT = Path(__file__).resolve().parents[1]
LESSONS = list(lessons.STEMS)  # the one table of the lessons (course_utils/lessons.py)
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def test_there_are_lessons_and_each_has_an_agreed_name() -> None:
    assert NOTEBOOKS, "no notebooks found"
    assert [p.stem for p in NOTEBOOKS] == [s for s in LESSONS if (ROOT / "notebooks" / f"{s}.ipynb").exists()]
    assert all(p.stem in LESSONS for p in NOTEBOOKS), [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean(path: Path) -> None:
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, "strip outputs before committing"
    assert "widgets" not in notebook["metadata"]
    text = "".join(source(c) for c in notebook["cells"])
    assert not re.search(r"(/home/|/root/|/Users/|/tmp/|hf_[A-Za-z0-9]{20,})", text), "machine path or token"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_holds_only_commented_plain_assignments(path: Path) -> None:
    tagged = [c for c in cells(path) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    text = source(tagged[0])
    for statement in ast.parse(text).body:
        assert isinstance(statement, ast.Assign), ast.dump(statement)
        assert isinstance(statement.value, ast.Constant), f"not a plain value: {ast.unparse(statement)}"
    assert all("#" in line for line in text.splitlines() if line.strip()), "comment every parameter"
    names = {t.id for s in ast.parse(text).body for t in s.targets}
    assert {"profile", "out_dir"} <= names
    # papermill reads every one of them (`papermill --help-notebook` lists them for an instructor).
    import papermill

    assert set(papermill.inspect_notebook(str(path))) == names, "papermill could not parse every parameter line"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_follows_the_course_order(path: Path) -> None:
    all_cells = cells(path)
    markdown = "\n".join(source(c) for c in all_cells if c["cell_type"] == "markdown")
    positions = [markdown.find(h) for h in ("What you will learn", "## Takeaways", "## Try next")]
    assert -1 not in positions and positions == sorted(positions), positions
    code = [source(c) for c in all_cells if c["cell_type"] == "code"]
    assert "doctor.summary_line()" in code[0], "the first code cell is the environment check"
    assert code[0].index("hosted.setup()") < code[0].index("doctor.summary_line()"), "hosted install comes first"
    assert f'write_metrics(metrics, params, "{path.stem}")' in code[-1], "the last cell writes metrics.json"
    asserts = [node for node in ast.walk(ast.parse(code[-1])) if isinstance(node, ast.Assert)]
    numbers = [node for node in asserts if any(isinstance(leaf, ast.Constant) and type(leaf.value) in (int, float)
                                               for leaf in ast.walk(node.test))]
    assert len(asserts) >= 4 and numbers, "the last cell asserts what the lesson claims, a number among them"
    assert "all(exercises.values())" in code[-1], "and that every exercise's check passed"


# The first time a lesson teaches a library, the library's own call stands in a code cell (a course_utils helper may
# repeat it later, never replace it). The lesson's own assertions check that the helper does the same.
CALLS_SHOWN = {
    "02_full_vs_peft": ["LoraConfig(", "IA3Config(", "SFTConfig(", "SFTTrainer(", "trainer.train()"],
    "03_lora": ["class LoRALinear(torch.nn.Module)", "PeftModel.from_pretrained(", "merge_and_unload()"],
    "04_qlora": ["BitsAndBytesConfig(", "prepare_model_for_kbit_training("],
    "06_eval": ["f1_score(", "precision_recall_fscore_support(", "confusion_matrix(", "rng.integers("],
    "09_preference": ["DPOConfig(", "DPOTrainer(", "trainer.train()", "trainer.evaluate(", "ORPOConfig(", "ORPOTrainer("],
    "10_gguf": ["GGUFReader(", "convert_hf_to_gguf", "llama_model_quantize(", "Llama(", "create_chat_completion("],
}


@pytest.mark.parametrize("stem", sorted(CALLS_SHOWN))
def test_each_lesson_shows_the_library_calls_it_teaches_in_a_code_cell(stem: str) -> None:
    code = "\n".join(source(c) for c in cells(ROOT / "notebooks" / f"{stem}.ipynb") if c["cell_type"] == "code")
    missing = [call for call in CALLS_SHOWN[stem] if call not in code]
    assert not missing, f"{stem} should show {missing} in a code cell before any helper repeats it"


def test_no_lesson_installs_packages_logs_in_or_trusts_remote_code() -> None:
    for path in NOTEBOOKS + sorted((ROOT / "course_utils").glob("*.py")):
        text = path.read_text()
        assert "trust_remote_code=True" not in text, path
        assert not re.search(r"[!%]pip install|notebook_login\(|huggingface_hub.login", text), path
        assert "evaluate.load(" not in text, path


def requirement_lines(text: str) -> list[str]:
    return [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]


def test_environment_yml_pip_section_mirrors_requirements() -> None:
    requirements = requirement_lines((ROOT / "requirements.txt").read_text())
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = lines.index("  - pip:") + 1
    pip_section = [line.strip()[2:] for line in lines[start:] if line.strip().startswith("- ")]
    assert pip_section == requirements
    assert "  - python=3.11" in lines


def test_requirements_are_pinned_and_torch_is_the_cpu_wheel_version() -> None:
    for line in requirement_lines((ROOT / "requirements.txt").read_text()):
        assert line == "-e ." or re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][^\s]*", line), f"not pinned: {line}"
    assert "torch==2.13.0" in requirement_lines((ROOT / "requirements.txt").read_text())


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make course" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_tests_run_offline() -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert os.environ.get("HF_DATASETS_OFFLINE") == "1"


def test_importing_course_utils_does_no_work(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = ("import sys, course_utils, course_utils.config, course_utils.instructor.cli, course_utils.runs, "
            "course_utils.data;"
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False", "light modules must not import torch"
    assert list(tmp_path.iterdir()) == [], "importing created files"


def test_every_lesson_starts_with_the_same_hosted_aware_first_cell() -> None:
    firsts = {source([c for c in cells(path) if c["cell_type"] == "code"][0]) for path in NOTEBOOKS}
    assert len(firsts) == 1, "the first code cell is the same in every lesson"
    (first,) = firsts
    assert '"/content/course", "/kaggle/working/course"' in first and "hosted.setup()" in first


def test_the_hosted_module_needs_nothing_a_fresh_hosted_runtime_lacks(tmp_path: Path) -> None:
    """course_utils.hosted runs before anything is installed: the standard library and packaging only."""
    import subprocess
    import sys

    code = ("import sys; before = set(sys.modules); import course_utils.hosted; "
            "print(sorted({m.split('.')[0] for m in set(sys.modules) - before} - set(sys.stdlib_module_names)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "['course_utils', 'packaging']"


def course_utils_imports() -> dict[str, set[str]]:
    """Module -> the course_utils modules it imports, at the top or inside a function (read from the source)."""
    package = ROOT / "course_utils"
    graph = {}
    for path in sorted(package.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_utils"):
                for alias in node.names:
                    module = f"{node.module}.{alias.name}"
                    found.add(module if (ROOT / (module.replace(".", "/") + ".py")).exists() else node.module)
            elif isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names if alias.name.startswith("course_utils")}
        graph[name] = found - {name, "course_utils"}
    return graph


def test_the_import_graph_has_no_circle() -> None:
    graph, done, circles = course_utils_imports(), set(), []

    def visit(module: str, path: list[str]) -> None:
        for imported in sorted(graph.get(module, ())):
            if imported in path:
                circles.append(path[path.index(imported):] + [imported])
            elif imported not in done:
                visit(imported, path + [imported])
        done.add(module)

    for module in graph:
        visit(module, [module])
    assert circles == []


def test_no_module_defines_a_top_level_name_twice() -> None:
    """A second `def check(...)` silently replaces the first: lesson 10's exercise check once hid lesson 04's."""
    twice = {}
    for path in sorted([*(ROOT / "course_utils").rglob("*.py"), *(ROOT / "scripts").glob("*.py"),
                        *(ROOT / "tools").glob("*.py")]):
        names = [node.name for node in ast.parse(path.read_text()).body
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            twice[str(path.relative_to(ROOT))] = repeated
    assert twice == {}


def test_lessons_and_their_helpers_never_import_the_instructor_package() -> None:
    lesson_facing = {m: deps for m, deps in course_utils_imports().items()  # `python -m course_utils` is the command
                     if not m.startswith("course_utils.instructor") and m != "course_utils.__main__"}
    upward = {module: sorted(d for d in deps if d.startswith("course_utils.instructor"))
              for module, deps in lesson_facing.items()}
    assert {m: d for m, d in upward.items() if d} == {}
    for path in NOTEBOOKS:
        assert "course_utils.instructor" not in path.read_text() and "import instructor" not in path.read_text(), path


def test_the_lesson_table_matches_the_notebooks() -> None:
    """Each lesson's title is its notebook's heading (tests/test_notebooks.py checks that it leaves its artifacts)."""
    assert [path.stem for path in NOTEBOOKS] == list(lessons.STEMS)
    for entry, path in zip(lessons.LESSONS, NOTEBOOKS):
        heading = source(cells(path)[0]).splitlines()[0]
        assert heading == f"# {entry.stem[:2]} · {entry.title}", heading
    assert lessons.maker_of("adapter-extract").stem == "03_lora"
    with pytest.raises(KeyError, match="no lesson makes 'adapter-x'; the artifacts lessons leave are: checkpoint-full"):
        lessons.maker_of("adapter-x")
