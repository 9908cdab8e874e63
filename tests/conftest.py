"""Shared test set-up: offline hub settings, a guard against network access, shared fixtures."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

# Nothing may download at test time: the hub libraries read these before any request.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost"}


OPT_IN_TIERS = ("cpu", "gpu_path", "gguf")  # long tiers, not part of `make test`: they run when -m names them


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the opt-in tiers unless the -m expression names them (`pytest -m cpu`), whatever else it selects."""
    chosen = config.getoption("markexpr") or ""
    for item in items:
        for tier in OPT_IN_TIERS:
            if tier in item.keywords and tier not in chosen:
                item.add_marker(pytest.mark.skip(reason=f"opt-in tier: run it with pytest -m {tier}"))


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection from the test process to a non-local address (notebook kernels use loopback)."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in LOCAL_HOSTS:
            raise RuntimeError(f"test tried to reach the network: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(scope="session")
def tiny_model_path() -> Path:
    """The course-tiny model folder (built once, then cached in .cache/models)."""
    from course_utils import models

    return models.build_course_tiny()


@pytest.fixture(scope="session")
def tiny_model_and_tokenizer(tiny_model_path: Path) -> tuple[object, object]:
    """course-tiny loaded on CPU."""
    from course_utils import models

    return models.load_model(str(tiny_model_path), device="cpu"), models.load_tokenizer(str(tiny_model_path))
