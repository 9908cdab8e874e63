"""Hosted runtimes (Colab, Kaggle): the course installs around the platform's torch and never replaces it."""

import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from course_utils import doctor, hosted

ROOT = Path(__file__).resolve().parents[1]
# The oldest torch a hosted platform ships: Colab's 2.11.0+cu128 (August 2026, unslothai/notebooks PR #337).
OLDEST_HOSTED_TORCH = "2.11.0"
TORCH_FAMILY = re.compile(r"^(torch|torchvision|torchaudio|triton|nvidia-.*)$")


def test_the_runtime_is_detected_from_the_kernel_and_its_environment() -> None:
    assert hosted.hosted_runtime(environ={}, modules={"google.colab": object()}) == "colab"
    assert hosted.hosted_runtime(environ={"COLAB_RELEASE_TAG": "release-colab_20261101"}, modules={}) == "colab"
    assert hosted.hosted_runtime(environ={"KAGGLE_KERNEL_RUN_TYPE": "Interactive"}, modules={}) == "kaggle"
    assert hosted.hosted_runtime(environ={"HOME": "/root"}, modules={"numpy": object()}) is None


def test_off_a_hosted_runtime_the_first_cell_installs_nothing(monkeypatch, capsys) -> None:
    monkeypatch.setattr(hosted, "hosted_runtime", lambda: None)
    calls = []
    message = hosted.setup(run=lambda *args, **kwargs: calls.append(args))
    assert calls == [] and "nothing to install" in message and "nothing to install" in capsys.readouterr().out


def _fake_platform(monkeypatch, versions: dict[str, str | None]) -> None:
    """Installed versions as on a hosted runtime, changed by the fake pip below."""
    monkeypatch.setattr(hosted, "installed_version", lambda package: versions.get(package))
    monkeypatch.setattr(hosted, "tested_ranges", lambda: {"torch": ">=2.13.0,<=2.13.0", "numpy": ">=2.4.6,<=2.4.6",
                                                          "peft": ">=0.21.2,<=0.21.2"})


def test_on_colab_pip_installs_the_hosted_requirements_with_the_platform_torch_held(monkeypatch, capsys) -> None:
    versions: dict[str, str | None] = {"torch": "2.11.0+cu128", "torchvision": "0.26.0+cu128", "numpy": "2.4.6"}
    _fake_platform(monkeypatch, versions)
    seen = {}

    def fake_pip(command, **kwargs):
        seen["command"], seen["cwd"] = command, kwargs["cwd"]
        seen["constraints"] = Path(command[command.index("-c") + 1]).read_text()
        versions.update({"peft": "0.21.2", "course-utils": "0.1.0"})
        return subprocess.CompletedProcess(command, 0, "", "")

    message = hosted.setup(runtime="colab", run=fake_pip)
    assert seen["command"][:7] == [sys.executable, "-m", "pip", "install", "--progress-bar", "off", "-r"]
    assert seen["command"][7] == str(ROOT / "requirements-hosted.txt") and seen["cwd"] == ROOT
    assert seen["constraints"] == "torch==2.11.0+cu128\ntorchvision==0.26.0+cu128\n"  # torchaudio is not installed
    assert "outside the course's tested ranges: peft (a minute" in capsys.readouterr().out
    assert "torch 2.11.0+cu128 is kept" in message and "tested with torch 2.13.0 only" in message


def test_an_upgrade_of_a_package_the_kernel_already_imported_asks_for_a_restart(monkeypatch) -> None:
    import numpy  # noqa: F401  (a hosted kernel has numpy loaded before the first cell)

    versions: dict[str, str | None] = {"torch": "2.13.0", "numpy": "2.0.2"}
    _fake_platform(monkeypatch, versions)

    def fake_pip(command, **kwargs):
        versions.update({"numpy": "2.4.6", "peft": "0.21.2", "course-utils": "0.1.0"})
        return subprocess.CompletedProcess(command, 0, "", "")

    with pytest.raises(hosted.RestartNeeded, match=r"Runtime > Restart session.*numpy 2\.0\.2 -> 2\.4\.6"):
        hosted.setup(runtime="colab", run=fake_pip)


def test_a_second_run_after_the_restart_installs_nothing(monkeypatch) -> None:
    _fake_platform(monkeypatch, {"torch": "2.13.0", "numpy": "2.4.6", "peft": "0.21.2", "course-utils": "0.1.0"})
    message = hosted.setup(runtime="kaggle", run=lambda *args, **kwargs: pytest.fail("pip must not run"))
    assert message.startswith("kaggle: every library the lessons need is installed")


def test_a_pip_failure_names_the_conflict_and_what_to_check(monkeypatch) -> None:
    """pip's own words for a conflict (what pip 23-26 print), cut to the lines that say which library wanted what."""
    _fake_platform(monkeypatch, {"torch": "2.13.0", "numpy": "2.4.6"})
    stdout = ("Looking in links: /opt/wheels\n\nThe conflict is caused by:\n    peft 0.30.0 depends on torch>=2.20\n"
              "    The user requested (constraint) torch==2.13.0\n\nTo fix this you could try to:\n"
              "1. loosen the range of package versions you've specified\n")
    stderr = ("ERROR: Cannot install peft because these package versions have conflicting dependencies.\n"
              "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/\n")
    failed = lambda command, **kwargs: subprocess.CompletedProcess(command, 1, stdout, stderr)  # noqa: E731
    with pytest.raises(RuntimeError) as raised:
        hosted.setup(runtime="kaggle", run=failed)
    message = str(raised.value)
    assert message.startswith("pip could not install requirements-hosted.txt around the platform's torch (turn "
                              "Internet on in the notebook's settings;")
    assert message.endswith("ERROR: Cannot install peft because these package versions have conflicting "
                            "dependencies.\nERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/"
                            "topics/dependency-resolution/\nThe conflict is caused by:\n    peft 0.30.0 depends on "
                            "torch>=2.20\n    The user requested (constraint) torch==2.13.0")


def test_when_only_course_utils_is_missing_the_message_says_so(monkeypatch, capsys) -> None:
    versions: dict[str, str | None] = {"torch": "2.13.0", "numpy": "2.4.6", "peft": "0.21.2"}
    _fake_platform(monkeypatch, versions)
    installed = lambda command, **kwargs: (versions.update({"course-utils": "0.1.0"}),  # noqa: E731
                                           subprocess.CompletedProcess(command, 0, "", ""))[1]
    hosted.setup(runtime="colab", run=installed)
    assert "tested ranges: course_utils itself (a minute" in capsys.readouterr().out


def test_ranges_read_as_words() -> None:
    assert hosted.describe_range(">=2.11.0,<=2.13.0") == "2.11.0 to 2.13.0"
    assert hosted.describe_range(">=2.4.6,<=2.4.6") == "2.4.6 only"


def test_without_torch_the_first_cell_says_to_install_the_platforms_first() -> None:
    with pytest.raises(RuntimeError, match="torch is not installed, and hosted runtimes bring their own"):
        hosted.torch_note(">=2.13.0", None)


def test_restart_reasons_name_only_packages_the_kernel_had_imported() -> None:
    before = {"numpy": "2.0.2", "peft": "0.20.0", "trl": None}
    after = {"numpy": "2.4.6", "peft": "0.21.2", "trl": "1.16.0"}
    reasons = hosted.restart_reasons(before, after, imported={"numpy.linalg": object()},
                                     distributions={"numpy": ["numpy"], "peft": ["peft"], "trl": ["trl"]})
    assert reasons == ["numpy 2.0.2 -> 2.4.6"]  # peft was never imported; trl was not installed before


def test_every_pin_lies_in_its_declared_range() -> None:
    ranges = hosted.tested_ranges(extras=("torch", "local", "test"))
    pins = doctor.pinned_versions()
    assert set(ranges) == set(pins), "every pinned package has a tested range in pyproject.toml, and only those"
    outside = {package: (pin, ranges[package]) for package, pin in pins.items()
               if hosted.outside_range(ranges[package], pin)}
    assert outside == {}


def test_doctor_warns_outside_the_tested_range_and_names_it() -> None:
    torch = importlib.metadata.version("torch").split("+")[0]
    checks = {c.name: c for c in doctor.inspect_packages({"torch": "0.0.1", "pytest": "0.0.1"},
                                                       {"torch": f">=0.0.1,<={torch}", "pytest": ">=0.0.1,<=0.0.2"})}
    assert checks["torch"].status == doctor.OK and f"in the tested range 0.0.1 to {torch}" in checks["torch"].detail
    assert checks["pytest"].status == doctor.WARN
    assert checks["pytest"].detail.endswith("outside what the course is tested with, 0.0.1 to 0.0.2 (pinned 0.0.1)")


def test_on_colab_the_doctor_checks_what_the_lessons_import_and_points_to_the_first_cell(monkeypatch) -> None:
    monkeypatch.setattr(hosted, "hosted_runtime", lambda: "colab")
    monkeypatch.setattr(doctor, "installed_version", lambda package: None if package == "peft" else
                        importlib.metadata.version(package))
    checks = {c.name: c for c in doctor.package_findings()}
    assert "torch" in checks and "transformers" in checks
    assert not {"nbgrader", "jupyterlab", "ipykernel", "pytest", "playwright"} & set(checks)  # the platform's own
    assert checks["peft"].status == doctor.FAIL
    assert checks["peft"].detail.endswith("run the lesson's first cell, which installs requirements-hosted.txt")


def test_the_hosted_requirements_install_nothing_torch_related_where_torch_is_installed(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report),
                    "--no-index", "--no-build-isolation", "-r", "requirements-hosted.txt"],
                   cwd=ROOT, check=True, capture_output=True)
    installs = [item["metadata"]["name"] for item in json.loads(report.read_text())["install"]]
    assert installs == ["course-utils"], installs
    requirements = [Requirement(line) for line in
                    (ROOT / "requirements-hosted.txt").read_text().splitlines() if line and line[0].isalpha()]
    assert not [r for r in requirements if TORCH_FAMILY.match(r.name)]


def test_no_library_the_lessons_need_asks_for_a_newer_torch_than_a_hosted_platform_has() -> None:
    """On Colab's torch 2.11 no dependency forces pip to replace it (what each installed library declares)."""
    needs_newer = []
    for package in hosted.tested_ranges(extras=()):
        for line in importlib.metadata.requires(package) or []:
            requirement = Requirement(line)
            if requirement.name == "torch" and requirement.marker is None:
                if not requirement.specifier.contains(OLDEST_HOSTED_TORCH):
                    needs_newer.append(f"{package}: {line}")
    assert needs_newer == []
    assert "torch" not in hosted.tested_ranges(extras=())  # only an extra: installing the course never pulls torch
