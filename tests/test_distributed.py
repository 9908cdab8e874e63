"""Lesson 08's helpers: the num_processes / accumulation / accelerate_config parameters, the shipped accelerate
configs (loaded by accelerate itself), and the torchrun launcher's failure path.

The tests marked `offline` launch torchrun, whose processes talk over loopback sockets; `make test` runs them a second
time in a network namespace where only loopback is up (`make test-offline`)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from course_utils import config, distributed
from course_utils.instructor import cli

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs" / "accelerate").glob("*.yaml"))
HOSTNAME_WARNING = ("[W1201 15:48:33.418992254 socket.cpp:207] [c10d] The hostname of the client socket cannot be "
                    "retrieved. err=-3")  # what torch 2.13's torchrun prints first on a machine without a network
EXPECTED = {  # file: (distributed type, machines, processes, the launcher accelerate picks for it)
    "single_gpu.yaml": ("NO", 1, 1, "simple"),
    "multi_gpu.yaml": ("MULTI_GPU", 1, 4, "multi_gpu"),
    "multi_node_fsdp.yaml": ("FSDP", 2, 16, "fsdp"),
    "multi_node_deepspeed_zero3.yaml": ("DEEPSPEED", 2, 16, "deepspeed"),
}


def test_the_four_configs_are_shipped() -> None:
    assert sorted(p.name for p in CONFIGS) == sorted(EXPECTED)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_each_shipped_accelerate_config_loads_with_accelerates_own_loader(path: Path) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    loaded = load_config_from_file(str(path))
    kind, machines, processes, _ = EXPECTED[path.name]
    assert (loaded.distributed_type.value, loaded.num_machines, loaded.num_processes) == (kind, machines, processes)
    assert loaded.use_cpu is False and loaded.mixed_precision == "bf16"
    if kind == "FSDP":
        assert loaded.fsdp_config["fsdp_version"] == 2 and loaded.fsdp_config["fsdp_reshard_after_forward"] is True
    if kind == "DEEPSPEED":
        assert loaded.deepspeed_config["zero_stage"] == 3
    if machines > 1:
        assert loaded.main_process_port == 29500 and loaded.main_process_ip
    assert distributed.read_accelerate_config(path).num_processes == processes


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_accelerate_launch_accepts_each_config_and_picks_the_expected_launcher(path: Path) -> None:
    """What `accelerate launch --config_file X train.py` does with the file before it starts anything."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    args, _, _ = _validate_launch_command(launch_command_parser().parse_args(["--config_file", str(path), "train.py"]))
    launcher = ("deepspeed" if args.use_deepspeed else "fsdp" if args.use_fsdp else
                "multi_gpu" if args.multi_gpu else "simple")
    assert launcher == EXPECTED[path.name][3]
    assert args.num_processes == EXPECTED[path.name][2]


def test_cpu_flag_with_two_processes_goes_to_the_one_process_launcher() -> None:
    """The trap lesson 08 measures: on CPU, without an MPI host file, accelerate picks its simple launcher."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    flags = ["--num_processes", "2", "--cpu", "train.py"]
    args, _, _ = _validate_launch_command(launch_command_parser().parse_args(flags))
    assert args.cpu and not args.multi_gpu and args.mpirun_hostfile is None  # -> simple_launcher: one process


@pytest.mark.parametrize(("text", "message"), [
    ("distributed_type: MULTI_GPUS\n", "'MULTI_GPUS' is not a valid DistributedType; valid distributed_type values: NO"),
    ("distributed_type: NO\n", "(got False; write 'NO' in quotes"),  # a bare NO is YAML's false; accelerate keeps it
    ("num_gpus: 4\n", "unknown keys (['num_gpus'])"),
    ("num_processes: 0\n", "num_processes must be a positive integer (got 0)"),
    ("distributed_type: [MULTI_GPU\n", "is not valid YAML"),
])
def test_a_bad_accelerate_config_names_the_file_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    base = (ROOT / "configs" / "accelerate" / "multi_gpu.yaml").read_text()
    key = text.split(":")[0]
    kept = [line for line in base.splitlines() if not line.startswith(f"{key}:")]
    path = tmp_path / "bad.yaml"
    path.write_text("\n".join(kept) + "\n" + text)
    with pytest.raises(ValueError) as error:
        distributed.read_accelerate_config(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_a_missing_or_absent_accelerate_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist; create one with `accelerate config`"):
        distributed.read_accelerate_config(tmp_path / "none.yaml")
    with pytest.raises(ValueError, match="accelerate_config is None"):
        distributed.read_accelerate_config(None)


@pytest.mark.parametrize("value", [0, -1, 1.5, "2", True, (os.cpu_count() or 1) + 1])
def test_num_processes_must_fit_this_machine(value: object) -> None:
    cpus = os.cpu_count() or 1
    expected = f"num_processes must be a whole number of processes from 1 to this machine's CPU count ({cpus}) (got "
    with pytest.raises(ValueError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        config.resolve_params("ci", num_processes=value)
    with pytest.raises(ValueError, match="num_processes must be"):
        distributed.check_num_processes(value)


def test_num_processes_and_accumulation_accept_valid_values() -> None:
    params = config.resolve_params("ci", num_processes=1, gradient_accumulation_steps=4,
                                   accelerate_config="configs/accelerate/multi_gpu.yaml")
    assert (params.num_processes, params.gradient_accumulation_steps) == (1, 4)
    assert config.Params().num_processes == 1 and config.Params().gradient_accumulation_steps == 1


@pytest.mark.parametrize(("name", "value", "message"), [
    ("gradient_accumulation_steps", 0, "gradient_accumulation_steps must be a positive integer (got 0)"),
    ("accelerate_config", "configs/accelerate/nope.yaml", "accelerate_config names a file that does not exist"),
    ("accelerate_config", "README.md", "accelerate_config must be None or the path of an accelerate config file"),
])
def test_bad_scale_out_parameters_say_what_is_valid(name: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config.resolve_params("ci", **{name: value})


def test_course_run_refuses_too_many_processes_before_any_notebook_starts(capsys: pytest.CaptureFixture) -> None:
    too_many = str((os.cpu_count() or 1) + 1)
    assert cli.main(["run", "08_scale_out", "-p", "num_processes", too_many, "--out", "unused"]) == 2
    error = capsys.readouterr().err
    assert "num_processes must be a whole number of processes from 1 to this machine's CPU count" in error
    assert f"(got {too_many})" in error


def test_a_batch_that_does_not_split_evenly_is_refused() -> None:
    assert distributed.share_of_batch(16, 2, "num_processes") == 8
    with pytest.raises(ValueError, match=r"batch_size \(16\) must be a multiple of gradient_accumulation_steps \(3\).*"
                                         r"valid here: \[1, 2, 4, 8, 16\]"):
        distributed.share_of_batch(16, 3, "gradient_accumulation_steps")


def test_torchrun_command_starts_the_requested_number_of_processes_on_a_free_port() -> None:
    command = distributed.torchrun_command(Path("train.py"), 2, ["--x", "1"])
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert command[3:] == ["--standalone", "--nproc_per_node", "2", "train.py", "--x", "1"]


def failed_launch(script: Path, result_json: Path, timeout_s: float) -> tuple[str, list[str]]:
    """The error a one-process launch of `script` raises: its head (before "; last lines:") and the lines shown."""
    with pytest.raises(RuntimeError) as error:
        distributed.run_torchrun(script, 1, [], result_json, timeout_s=timeout_s)
    head, separator, shown = str(error.value).partition("; last lines:\n")
    assert separator, f"no last lines in the error: {error.value}"
    noise = [line for line in shown.splitlines() if "hostname of the client socket" in line]
    assert not noise, f"torch's hostname warning should be left out of the last lines: {noise}"
    return head, shown.splitlines()


def test_last_lines_leave_out_torchs_hostname_warning_and_nothing_else() -> None:
    assert distributed.HOSTNAME_WARNING.match(HOSTNAME_WARNING)
    kept = ["[rank 0] started", "[W1201 15:48:33.418992254 socket.cpp:207] [c10d] The client socket has timed out.",
            "print('The hostname of the client socket cannot be retrieved. err=-3')"]
    assert not any(distributed.HOSTNAME_WARNING.match(line) for line in kept)
    assert distributed.last_lines([HOSTNAME_WARNING, *kept, HOSTNAME_WARNING]) == "\n".join(kept)
    report = "E1201 15:48:40.1 api.py:874] failed (exitcode: 1) local_rank: 0 (pid: 7) of binary: python"
    output = ["[rank 0] step 1", HOSTNAME_WARNING, "[rank 0] no data here", HOSTNAME_WARNING, report, "Traceback"]
    assert distributed.last_lines(output, count=2) == f"[rank 0] step 1\n[rank 0] no data here\n{report}"


@pytest.mark.offline
def test_a_failing_launch_raises_with_the_processes_last_lines(tmp_path: Path) -> None:
    script = tmp_path / "fails.py"
    script.write_text("import os\nraise SystemExit(f'rank {os.environ[\"RANK\"]} of {os.environ[\"WORLD_SIZE\"]}: "
                      "no data here')\n")
    head, shown = failed_launch(script, tmp_path / "result.json", timeout_s=120)
    assert head == "torchrun fails.py (1 process) exited with code 1"
    assert "rank 0 of 1: no data here" in shown and not (tmp_path / "result.json").exists()
    assert "failed (exitcode: 1)" in shown[-1]  # torchrun's report ends the lines; its own traceback is left out
    assert not any("ChildFailedError" in line for line in shown)


@pytest.mark.offline
def test_a_launch_that_writes_no_result_is_an_error(tmp_path: Path) -> None:
    script = tmp_path / "silent.py"
    script.write_text("print('[rank 0] started, wrote nothing')\n")
    head, shown = failed_launch(script, tmp_path / "result.json", timeout_s=120)
    assert head == "torchrun silent.py (1 process) wrote no result.json"
    assert "[rank 0] started, wrote nothing" in shown  # the script's own line, wherever torchrun's lines put it


@pytest.mark.offline
def test_a_launch_returns_what_the_script_wrote(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    script = tmp_path / "writes.py"
    script.write_text("import json, os, sys\nout = sys.argv[sys.argv.index('--out') + 1]\n"
                      "print(f\"[rank {os.environ['RANK']}] hello\", flush=True)\n"
                      "json.dump({'world_size': int(os.environ['WORLD_SIZE'])}, open(out, 'w'))\n")
    result = distributed.run_torchrun(script, 1, [], tmp_path / "result.json", timeout_s=120)
    assert result["world_size"] == 1 and result["launch_seconds"] > 0
    assert "[rank 0] hello" in capsys.readouterr().out  # progress lines are shown as they come


@pytest.mark.offline
def test_processes_form_a_gloo_group_over_loopback(tmp_path: Path) -> None:
    """What lesson 08's script does first: join torchrun's store and a gloo group, then sum one number per rank."""
    script = tmp_path / "gloo.py"
    script.write_text("import json, sys\nimport torch, torch.distributed as dist\n"
                      "dist.init_process_group('gloo')\n"
                      "total = torch.tensor([dist.get_rank() + 1.0])\ndist.all_reduce(total)\n"
                      "if dist.get_rank() == 0:\n"
                      "    out = sys.argv[sys.argv.index('--out') + 1]\n"
                      "    json.dump({'world_size': dist.get_world_size(), 'sum': total.item()}, open(out, 'w'))\n"
                      "dist.destroy_process_group()\n")
    processes = min(2, distributed.cpu_count())  # two where the machine has them (the lesson's default)
    result = distributed.run_torchrun(script, processes, [], tmp_path / "result.json", timeout_s=120)
    assert result == {"world_size": processes, "sum": processes * (processes + 1) / 2,
                      "launch_seconds": result["launch_seconds"]}


@pytest.mark.offline
def test_a_launch_that_hangs_is_stopped_at_its_time_limit(tmp_path: Path) -> None:
    script = tmp_path / "hangs.py"
    script.write_text("import time\nprint('[rank 0] waiting', flush=True)\ntime.sleep(600)\n")
    started = time.perf_counter()
    head, shown = failed_launch(script, tmp_path / "result.json", timeout_s=5)
    assert head == "torchrun hangs.py (1 process) ran over 5 s and was stopped"
    assert "[rank 0] waiting" in shown
    assert time.perf_counter() - started < 30


def test_a_missing_script_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="training script not found"):
        distributed.run_torchrun(tmp_path / "nope.py", 1, [], tmp_path / "result.json")
