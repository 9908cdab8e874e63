"""The Olive wrapper: Olive's own error line instead of a traceback, a tokenizer transformers 4.57 loads, the doctor line."""

from __future__ import annotations

import json

import pytest

from course_utils import doctor, olive

TRACEBACK = """[2026-11-24 00:20:01] [INFO] [engine.py:12] Running workflow
Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/peft/config.py", line 263, in from_pretrained
    raise ValueError(f"Can't find '{CONFIG_NAME}' at '{pretrained_model_name_or_path}'") from exc
ValueError: Can't find 'adapter_config.json' at '/tmp/no-such-adapter'
"""


def test_a_failed_run_is_reported_by_its_last_error_line_not_the_traceback():
    assert olive.olive_error(TRACEBACK) == "ValueError: Can't find 'adapter_config.json' at '/tmp/no-such-adapter'"
    assert olive.olive_error("first\nsecond\nthird\nfourth") == "second\nthird\nfourth"  # no error line: the last 3


def test_the_model_copy_names_a_tokenizer_class_transformers_4_loads(tmp_path):
    source = tmp_path / "model"
    source.mkdir()
    (source / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "TokenizersBackend", "x": 1}))
    (source / "model.safetensors").write_bytes(b"weights")
    copy = olive.loadable_model_copy(source, tmp_path / "copy")
    assert json.loads((copy / "tokenizer_config.json").read_text()) == {"tokenizer_class": "PreTrainedTokenizerFast",
                                                                         "x": 1}
    assert (copy / "model.safetensors").read_bytes() == b"weights"
    assert json.loads((source / "tokenizer_config.json").read_text())["tokenizer_class"] == "TokenizersBackend"


def test_the_model_copy_can_carry_the_course_tokenizers_chat_template(tmp_path):
    source = tmp_path / "model"
    source.mkdir()
    (source / "tokenizer_config.json").write_text(json.dumps({"chat_template": "shipped", "x": 1}))
    (source / "chat_template.jinja").write_text("shipped")
    copy = olive.loadable_model_copy(source, tmp_path / "copy", chat_template="course")
    assert (copy / "chat_template.jinja").read_text() == "course"
    assert json.loads((copy / "tokenizer_config.json").read_text()) == {"x": 1}
    assert (source / "chat_template.jinja").read_text() == "shipped"


def test_without_the_environment_the_status_and_the_run_say_to_build_it(monkeypatch, tmp_path):
    monkeypatch.setattr(olive, "olive_executable", lambda: None)
    works, detail = olive.environment_status()
    assert not works and "make olive" in detail
    assert doctor.inspect_olive().status == doctor.WARN
    with pytest.raises(FileNotFoundError, match="make olive"):
        olive.run(["--help"], cwd=tmp_path)


# A real Olive failure (Olive started, its exception line read back) is checked where it happens anyway: lesson 05
# runs one on purpose at the ci profile (section 8), and check_05 asserts its message (tests/test_notebooks.py).


HEARTBEAT_PROBE = """
import olive.telemetry.telemetry as telemetry
sent = []
telemetry.Telemetry._log_heartbeat = lambda self: sent.append("heartbeat")
telemetry.Telemetry()
print(len(sent))
"""


@pytest.mark.skipif(olive.olive_executable() is None, reason="needs .venv-olive (make olive)")
def test_olive_started_with_the_courses_environment_queues_no_telemetry_heartbeat():
    # Olive 0.13 queues a heartbeat before it reads --disable_telemetry, and offline its flush waited ~10 s on DNS.
    import os
    import subprocess

    python = olive.olive_executable().parent / "python"
    ci_variables = ("CI", "TF_BUILD", "GITHUB_ACTIONS", "JENKINS_URL", "CODEBUILD_BUILD_ID", "BUILDKITE",
                    "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI")
    plain = {key: value for key, value in os.environ.items() if key not in ci_variables}

    def heartbeats(env: dict) -> str:
        return subprocess.run([str(python), "-c", HEARTBEAT_PROBE], env=env, capture_output=True, text=True,
                              timeout=120, check=True).stdout.strip()

    assert heartbeats(plain | {"OLIVE_DISABLE_TELEMETRY": "1"}) == "1"  # Olive's own switch alone does not stop it
    assert heartbeats(plain | olive.TELEMETRY_OFF) == "0"
