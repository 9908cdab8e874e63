"""The benchmark scripts' shared helpers (the benchmarks themselves never run as tests: they time things)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import common  # noqa: E402
import course_time  # noqa: E402

from course_utils import config  # noqa: E402


def test_speed_probe_times_its_fixed_workload() -> None:
    assert common.speed_probe(repeats=1) > 0


def test_course_time_targets_are_profiles() -> None:
    assert set(course_time.TARGET_SECONDS) <= set(config.PROFILES)
    assert course_time.TARGET_SECONDS == {"ci": 300, "cpu": 3600}
