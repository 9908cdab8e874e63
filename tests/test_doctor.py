"""`course doctor`'s checks: pins read from requirements.txt, and [OK]/[WARN]/[FAIL] per package."""

from __future__ import annotations

from pathlib import Path

from course_utils import doctor

TORCH = doctor.pinned_versions()["torch"]  # read from requirements.txt, so a torch bump changes one line


def test_pins_are_read_from_requirements(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# comment\ntorch==2.13.0   # every lesson\nonnx-ir==1.1.0\n-e .\n")
    assert doctor.pinned_versions(requirements) == {"torch": "2.13.0", "onnx-ir": "1.1.0"}


def test_every_shipped_pin_is_checked() -> None:
    pins = doctor.pinned_versions()
    assert {"torch", "transformers", "peft", "trl", "bitsandbytes", "onnxruntime-genai", "papermill"} <= set(pins)


def test_package_checks_say_ok_warn_or_fail() -> None:
    checks = {c.name: c for c in doctor.inspect_packages({"torch": TORCH, "pytest": "0.0.1", "no-such-pkg": "1.0"})}
    assert checks["torch"].status == doctor.OK
    assert checks["pytest"].status == doctor.WARN
    assert checks["pytest"].detail.endswith("installed, not the version the course is tested with (pinned 0.0.1)")
    assert checks["no-such-pkg"].status == doctor.FAIL and "pip install -r requirements.txt" in checks["no-such-pkg"].detail
    assert str(checks["torch"]).startswith(f"[OK] torch: {TORCH}")


def test_the_installed_environment_matches_the_pins() -> None:
    problems = [str(c) for c in doctor.inspect_packages(doctor.pinned_versions()) if c.status != doctor.OK]
    assert not problems, problems


def test_summary_line_names_device_and_versions() -> None:
    line = doctor.summary_line()
    assert "device cpu" in line or "device cuda" in line
    assert f"torch {TORCH}" in line and "transformers" in line and "peft" in line
