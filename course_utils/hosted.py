"""Colab and Kaggle: install what the lessons need around the platform's own torch (each lesson's first cell).

A hosted runtime ships torch built for its GPU, already loaded by the running kernel. Installing the course's
pinned torch over it leaves the kernel on the old one (``undefined symbol``, ``operator torchvision::nms does not
exist``), so here torch is never installed: ``requirements-hosted.txt`` installs this package with the tested
ranges of pyproject.toml, and a constraints file holds the platform's torch, torchvision and torchaudio where they
are. Anywhere else :func:`setup` installs nothing and says so.

This module imports only the standard library and ``packaging``, so it runs before anything else is installed.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.utils import canonicalize_name
except ImportError:  # every hosted runtime has packaging; pip always carries a copy of its own
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.specifiers import SpecifierSet
    from pip._vendor.packaging.utils import canonicalize_name

HOSTED_REQUIREMENTS = "requirements-hosted.txt"
# Held at the platform's versions while installing: they are built together for the platform's CUDA.
PLATFORM_PACKAGES = ("torch", "torchvision", "torchaudio")
RESTART_STEPS = {"colab": "Runtime > Restart session", "kaggle": "restart the session from the Run menu"}
NETWORK_HINT = {"colab": "the runtime must reach PyPI", "kaggle": "turn Internet on in the notebook's settings"}


class RestartNeeded(RuntimeError):
    """The install changed a package this kernel had already imported: restart, then run the lesson again."""


def hosted_runtime(environ: Mapping[str, str] | None = None, modules: Mapping[str, object] | None = None) -> str | None:
    """'colab' or 'kaggle' when this kernel runs on that hosted platform, else None."""
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if "google.colab" in modules or "COLAB_RELEASE_TAG" in environ:
        return "colab"
    if "KAGGLE_KERNEL_RUN_TYPE" in environ:
        return "kaggle"
    return None


def course_folder() -> Path:
    """The course checkout this module was loaded from."""
    return Path(__file__).resolve().parents[1]


def ranges_in(pyproject_text: str, extras: Sequence[str] | None = ("torch",)) -> dict[str, str]:
    """Package (canonical name) -> tested range (such as '>=5.23.0,<=5.24.0'; '' for none) in a pyproject.toml's
    text: its dependencies and the named extras (None: every extra)."""
    project = tomllib.loads(pyproject_text)["project"]
    groups = project.get("optional-dependencies", {})
    lines = list(project.get("dependencies", []))
    for extra in groups if extras is None else extras:
        lines += groups[extra]
    return {canonicalize_name(Requirement(line).name): line[len(Requirement(line).name):].strip() for line in lines}


def tested_ranges(pyproject: Path | None = None, extras: Sequence[str] | None = ("torch",)) -> dict[str, str]:
    """The course's tested ranges (ranges_in of its pyproject.toml)."""
    return ranges_in((pyproject or course_folder() / "pyproject.toml").read_text(), extras)


def installed_version(package: str) -> str | None:
    """The installed version of `package`, or None when it is not installed."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def describe_range(tested: str) -> str:
    """'2.11.0 to 2.13.0' for '>=2.11.0,<=2.13.0'; '2.4.6 only' when both ends are one version (only it has run)."""
    ends = {spec.operator: spec.version for spec in SpecifierSet(tested)}
    low, high = ends.get(">="), ends.get("<=")
    if low and high:
        return f"{low} only" if low == high else f"{low} to {high}"
    return tested


def outside_range(tested: str, version: str | None) -> bool:
    """True when `version` is missing or not in the `tested` range (a local tag such as +cu128 is ignored)."""
    return version is None or version.split("+")[0] not in SpecifierSet(tested, prereleases=True)


def unmet(ranges: Mapping[str, str], version_of: Callable[[str], str | None] | None = None) -> dict[str, str]:
    """Package -> 'missing' or its installed version, for each package of `ranges` that pip would have to install."""
    version_of = version_of or installed_version
    versions = {package: version_of(package) for package in ranges}
    return {package: versions[package] or "missing" for package, tested in ranges.items()
            if outside_range(tested, versions[package])}


def torch_note(tested: str, version: str | None) -> str:
    """One sentence on the platform's torch against the course's tested range; it is never replaced here."""
    if version is None:
        raise RuntimeError("torch is not installed, and hosted runtimes bring their own: pick a runtime with PyTorch "
                           "(Colab and Kaggle have it by default), or on your own machine install the course with "
                           "`pip install -r requirements.txt`, which pins torch; then run this cell again")
    if outside_range(tested, version):
        return (f"torch {version} is kept, as the platform built it; the course is tested with torch "
                f"{describe_range(tested)}, so a lesson may behave differently (README, 'Colab and Kaggle')")
    return f"torch {version} is kept, as the platform built it (the course is tested with {describe_range(tested)})"


def install_command(requirements: Path, constraints: Path) -> list[str]:
    """pip installing `requirements` with `constraints` (the platform's torch held where it is)."""
    return [sys.executable, "-m", "pip", "install", "--progress-bar", "off", "-r", str(requirements), "-c",
            str(constraints)]


def pip_failure(stdout: str, stderr: str) -> str:
    """What a failed pip install said that matters: its ERROR lines, and which requirement asked for what."""
    lines = stdout.splitlines()
    cause = []
    if "The conflict is caused by:" in lines:
        for line in lines[lines.index("The conflict is caused by:"):]:
            if line.startswith("To fix this"):
                break
            cause += [line] if line.strip() else []
    errors = [line for line in stderr.splitlines() if line.startswith("ERROR")] or stderr.strip().splitlines()[-5:]
    return "\n".join(errors + cause)


def platform_constraints(version_of: Callable[[str], str | None] | None = None) -> str:
    """A pip constraints file's text that holds each installed platform package (torch, ...) at its version."""
    version_of = version_of or installed_version
    return "".join(f"{package}=={version_of(package)}\n" for package in PLATFORM_PACKAGES if version_of(package))


def restart_reasons(before: Mapping[str, str | None], after: Mapping[str, str | None],
                    imported: Mapping[str, object] | None = None,
                    distributions: Mapping[str, list[str]] | None = None) -> list[str]:
    """'numpy 2.0.2 -> 2.4.6' for each package whose version changed and which this kernel had already imported."""
    imported = sys.modules if imported is None else imported
    distributions = importlib.metadata.packages_distributions() if distributions is None else distributions
    loaded = {name.lower() for module in imported for name in distributions.get(module.split(".")[0], [])}
    return [f"{package} {before[package]} -> {after[package]}" for package in sorted(before)
            if before[package] is not None and before[package] != after.get(package) and package.lower() in loaded]


def setup(runtime: str | None = None, run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> str:
    """Install what the lessons need on Colab or Kaggle, keeping the platform's torch; elsewhere do nothing.

    Prints and returns what it did. Raises RestartNeeded when a package this kernel had already imported was
    upgraded (the kernel keeps the old one in memory), and RuntimeError when pip fails, with pip's last lines.
    """
    runtime = runtime or hosted_runtime()
    if runtime is None:
        message = ("Not on Colab or Kaggle: nothing to install (on your own machine requirements.txt pins every "
                   "version; `course doctor` checks them).")
        print(message)
        return message
    ranges = tested_ranges()
    torch_line = torch_note(ranges.pop("torch"), installed_version("torch"))
    missing = unmet(ranges)
    if not missing and installed_version("course-utils"):
        message = f"{runtime}: every library the lessons need is installed. {torch_line}."
        print(message)
        return message
    names = ", ".join(sorted(missing)) or "course_utils itself"
    print(f"{runtime}: installing what is missing or outside the course's tested ranges: {names} "
          f"(a minute or two; torch is left alone).")
    before = {package: installed_version(package) for package in ranges}
    with tempfile.TemporaryDirectory() as folder:
        constraints = Path(folder) / "platform.txt"
        constraints.write_text(platform_constraints())
        result = run(install_command(course_folder() / HOSTED_REQUIREMENTS, constraints),
                     cwd=course_folder(), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pip could not install {HOSTED_REQUIREMENTS} around the platform's torch "
                           f"({NETWORK_HINT.get(runtime, 'pip needs PyPI')}; a conflict below names the library "
                           f"and the torch it asks for):\n{pip_failure(result.stdout or '', result.stderr or '')}")
    importlib.invalidate_caches()
    after = {package: installed_version(package) for package in ranges}
    changed = restart_reasons(before, after)
    if changed:
        raise RestartNeeded(
            f"Restart the runtime ({RESTART_STEPS.get(runtime, 'restart the kernel')}), then run the lesson from the "
            f"top: this kernel had already imported {', '.join(changed)}, and keeps the old version in memory "
            f"until it restarts. The install is done; after the restart this cell finds everything in place.")
    message = f"{runtime}: installed. {torch_line}."
    print(message)
    return message
