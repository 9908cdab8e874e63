"""The training script lesson 08 launches in several processes: DDP with trl's SFTTrainer, then FSDP2 sharding.

    torchrun --standalone --nproc_per_node 2 scripts/train_distributed.py --expect-world-size 2 \
        --output-dir runs/ci/08_scale_out/processes --out runs/ci/08_scale_out/processes/results.json

Every process first checks, from inside, what it is part of: the world size torch.distributed reports
and accelerate's distributed type. It stops if that is not what was asked for, so a launcher that
quietly started one process cannot pass for data parallelism. Then, in one launch (each launch costs
several seconds of imports per process):

1. The Trainer's `fsdp=` option on CPU processes: engaged or not, read from the Trainer after one step.
2. DDP: SFTTrainer on CPU processes over gloo, each taking batch_size / world_size examples per step.
   Each rank's own loss on its share of the first batch is kept, to compare with the loss the Trainer logs.
3. FSDP2: `torch.distributed.fsdp.fully_shard` on the same model; per-rank shapes and bytes of the
   parameters, gradients and AdamW states; one step, compared with one process doing the whole batch.

Rank 0 writes one JSON file (`--out`) with what every rank measured, and the DDP step-0 gradient beside it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist


def parse_args() -> argparse.Namespace:
    """The command line: what to train, how long, and where the results go."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-id", default="course-tiny", help="course-tiny, a hub id or a local folder")
    parser.add_argument("--tone-train", default="data/tone/train.jsonl")
    parser.add_argument("--batch-size", type=int, default=16, help="the global batch, split evenly over the processes")
    parser.add_argument("--max-steps", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--expect-world-size", type=int, required=True, help="stop unless this many processes joined")
    parser.add_argument("--output-dir", required=True, help="TensorBoard logs and the step-0 gradient go here")
    parser.add_argument("--out", required=True, help="the JSON file rank 0 writes")
    return parser.parse_args()


def say(text: str) -> None:
    """A progress line; the launcher in course_utils.distributed shows lines that start with "[rank "."""
    rank = dist.get_rank() if dist.is_initialized() else int(os.environ.get("RANK", 0))
    sys.stdout.write(f"[rank {rank}] {text}\n")  # one write per line, so the two processes' lines do not interleave
    sys.stdout.flush()


def sft_config(args: argparse.Namespace, output_dir: Path, per_process_batch: int, **overrides: Any) -> Any:
    """The course's SFTConfig (course_utils.train.sft_config, what the lessons train with), for CPU processes that
    average their gradients over gloo: the same settings as lesson 08's single process, so the two compare."""
    from course_utils import train
    from course_utils.config import Params

    params = Params(model_id=args.model_id, batch_size=per_process_batch,  # global batch = this x world size
                    max_length=args.max_length, seed=args.seed)
    settings: dict[str, Any] = dict(
        logging_steps=1,
        report_to="tensorboard",  # only rank 0 writes events
        use_cpu=True,  # CPU processes...
        ddp_backend="gloo",  # ...that average their gradients over gloo (nccl is for GPUs)
        bf16=False,  # fp32 on CPU, so the comparison with one process is exact
        fp16=False,
        disable_tqdm=True,
    )
    max_steps = overrides.pop("max_steps", args.max_steps)
    return train.sft_config(params, output_dir, max_steps, args.learning_rate, **(settings | overrides))


def identity(expected_world_size: int) -> dict[str, Any]:
    """What this process is part of, read from torch.distributed and accelerate; stops on a mismatch."""
    from accelerate import PartialState
    from accelerate.utils import DistributedType

    state = PartialState()
    world = dist.get_world_size() if dist.is_initialized() else 1
    found = {
        "rank": dist.get_rank() if dist.is_initialized() else 0,
        "world_size": world,
        "WORLD_SIZE": os.environ.get("WORLD_SIZE"),
        "distributed_type": str(state.distributed_type.value),
        "backend": dist.get_backend() if dist.is_initialized() else None,
        "pid": os.getpid(),
        "threads": torch.get_num_threads(),
    }
    if world != expected_world_size or (world > 1 and state.distributed_type != DistributedType.MULTI_CPU):
        raise SystemExit(f"expected {expected_world_size} processes in a MULTI_CPU group, found {found}")
    return found


def check_trainer_fsdp_flag(args: argparse.Namespace, model_id: str, dataset: Any, tokenizer: Any) -> dict[str, Any]:
    """Ask the Trainer for FSDP on these CPU processes, train one step, and report what it really did."""
    from torch.distributed.tensor import DTensor
    from trl import SFTTrainer

    from course_utils import models

    model = models.load_model(model_id, device="cpu")
    config = sft_config(args, Path(args.output_dir) / "trainer-fsdp-flag", 1, max_steps=1, report_to=[],
                        fsdp="full_shard auto_wrap",
                        fsdp_config={"fsdp_version": 2, "transformer_layer_cls_to_wrap": model._no_split_modules})
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    return {
        "is_fsdp_enabled": bool(trainer.is_fsdp_enabled),
        "distributed_type": str(trainer.accelerator.distributed_type.value),
        "wrapped_as": type(trainer.model_wrapped).__name__,
        "sharded_parameters": sum(isinstance(p, DTensor) for p in trainer.model.parameters()),
        "parameter_tensors": sum(1 for _ in trainer.model.parameters()),
    }


def own_loss_on_first_batch(trainer: Any) -> dict[str, float]:
    """This rank's mean loss on its own share of the first batch, before any update, and its answer tokens."""
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        loss = trainer.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                             labels=batch["labels"]).loss
    return {"loss": loss.item(), "answer_tokens": int((batch["labels"][:, 1:] != -100).sum())}


def train_ddp(args: argparse.Namespace, model_id: str, dataset: Any, tokenizer: Any) -> tuple[dict[str, Any], Any]:
    """SFTTrainer on every process; returns this rank's measurements and its step-0 gradient."""
    from transformers import set_seed
    from trl import SFTTrainer

    from course_utils import callbacks, models

    world = dist.get_world_size() if dist.is_initialized() else 1
    config = sft_config(args, Path(args.output_dir) / "tensorboard", args.batch_size // world)
    set_seed(args.seed)
    model = models.load_model(model_id, device="cpu")
    meter, snapshot = callbacks.StepMeter(profile_step=None), callbacks.GradientSnapshot(step=0)
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                         callbacks=[meter, snapshot])
    first_batch = own_loss_on_first_batch(trainer)
    barrier()
    started = time.perf_counter()
    trainer.train()
    barrier()
    seconds = time.perf_counter() - started
    gradient = snapshot.gradient
    copies = [torch.zeros_like(gradient) for _ in range(world)] if world > 1 else [gradient]
    if world > 1:
        dist.all_gather(copies, gradient)
    measured = {
        "wrapped_as": type(trainer.model_wrapped).__name__,
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        "per_process_batch": config.per_device_train_batch_size,
        "losses": [entry["loss"] for entry in trainer.state.log_history if "loss" in entry],
        "first_batch": first_batch,
        "seconds": seconds,
        "median_step_seconds": meter.median_step_seconds,
        "gradient_max_diff_between_ranks": max(float((copies[0] - other).abs().max()) for other in copies),
        "event_files": sorted(str(p) for p in Path(config.output_dir).rglob("events.out.tfevents.*")),
    }
    return measured, gradient


def barrier() -> None:
    """Wait for every process (no-op in a single process)."""
    if dist.is_initialized():
        dist.barrier()


def local_bytes(tensors: list[Any]) -> int:
    """Bytes this rank holds for `tensors` (the local shard of a DTensor, else the whole tensor)."""
    locals_ = [t.to_local() if hasattr(t, "to_local") else t for t in tensors]
    return sum(t.numel() * t.element_size() for t in locals_)


def shard_with_fsdp2(args: argparse.Namespace, model_id: str, tokenizer: Any, rows: list[dict[str, str]],
                     labels: list[str]) -> dict[str, Any]:
    """fully_shard the model over every process, take one AdamW step on this rank's half of a batch, and
    compare the updated weights with one process stepping on the whole batch."""
    from torch.distributed.fsdp import fully_shard

    from course_utils import data, models

    rank, world = dist.get_rank(), dist.get_world_size()
    # 32 tokens cut from every example: no padding, so every rank's share has the same number of tokens and
    # the mean of the ranks' mean losses is the whole batch's mean loss.
    batch = data.padded_batch(tokenizer, rows[: args.batch_size], labels, length=32)
    if not bool(batch["attention_mask"].all()):
        raise SystemExit("some examples are shorter than 32 tokens: the FSDP comparison needs no padding")
    mine = {key: value.chunk(world)[rank] for key, value in batch.items()}

    reference = models.load_model(model_id, device="cpu").train()  # one process, the whole batch
    reference_optimizer = torch.optim.AdamW(reference.parameters(), lr=args.learning_rate)
    reference(**batch, labels=batch["input_ids"]).loss.backward()
    reference_optimizer.step()

    model = models.load_model(model_id, device="cpu").train()
    full_shapes = {name: list(p.shape) for name, p in model.named_parameters()}
    full_bytes = local_bytes(list(model.parameters()))
    for layer in model.model.layers:  # one FSDP unit per decoder layer, then the rest (embeddings, norm, head)
        fully_shard(layer)
    fully_shard(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate)
    model(**mine, labels=mine["input_ids"]).loss.backward()
    grads = [p.grad for p in model.parameters()]
    optimizer.step()
    states = [v for state in optimizer.state.values() for key, v in state.items() if key != "step"]
    updated = {name: p.full_tensor() for name, p in model.named_parameters()}  # all-gathers the shards
    expected = dict(reference.named_parameters())
    return {
        "parameter_type": type(next(model.parameters())).__name__,
        "full_shapes": full_shapes,
        "local_shapes": {name: list(p.to_local().shape) for name, p in model.named_parameters()},
        "full_parameter_bytes": full_bytes,
        "parameter_bytes": local_bytes(list(model.parameters())),
        "gradient_bytes": local_bytes(grads),
        "optimizer_state_bytes": local_bytes(states),
        "updated_max_abs_diff_vs_one_process": max(
            float((updated[name] - expected[name].detach()).abs().max()) for name in updated),
    }


def main() -> None:
    """Check the group, then the Trainer's FSDP flag, DDP training and FSDP2 sharding; rank 0 writes the JSON."""
    args = parse_args()
    import datasets
    import transformers

    from course_utils import data, doctor, models, runs
    from course_utils.distributed import share_of_batch

    doctor.quiet_known_noise()
    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    share_of_batch(args.batch_size, world, "the number of processes")
    # Creating the config sets up the process group from torchrun's variables (RANK, WORLD_SIZE, MASTER_ADDR).
    sft_config(args, Path(args.output_dir) / "tensorboard", args.batch_size // world)
    if not dist.is_initialized():  # a single process: accelerate makes no group, fully_shard needs one
        dist.init_process_group("gloo")
    me = identity(args.expect_world_size)
    say(f"world size {me['world_size']}, {me['distributed_type']} over {me['backend']}, "
        f"pid {me['pid']}, {me['threads']} thread(s)")

    model_id = models.resolve_model_path(args.model_id)
    tokenizer = models.load_tokenizer(model_id)
    rows = data.load_tone(args.tone_train)
    labels = data.label_set(rows)
    dataset = data.tone_dataset(rows, labels)

    fsdp_flag = check_trainer_fsdp_flag(args, model_id, dataset, tokenizer)
    say(f"Trainer fsdp= flag: is_fsdp_enabled={fsdp_flag['is_fsdp_enabled']}, model wrapped as "
        f"{fsdp_flag['wrapped_as']}, {fsdp_flag['sharded_parameters']} sharded parameters")
    ddp, gradient = train_ddp(args, model_id, dataset, tokenizer)
    say(f"DDP: {args.max_steps} steps of {ddp['per_process_batch']} examples here in {ddp['seconds']:.2f} s, "
        f"last loss {ddp['losses'][-1]:.4f}")
    fsdp = shard_with_fsdp2(args, model_id, tokenizer, rows, labels)
    say(f"FSDP2: this rank holds {fsdp['parameter_bytes']:,} of {fsdp['full_parameter_bytes']:,} parameter bytes")

    ranks: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(ranks, {**me, "trainer_fsdp_flag": fsdp_flag, "ddp": ddp, "fsdp": fsdp})
    if dist.get_rank() == 0:
        gradient_path = Path(args.output_dir) / "ddp_step0_gradient.pt"
        torch.save(gradient, gradient_path)
        result = {"world_size": dist.get_world_size(), "batch_size": args.batch_size, "max_steps": args.max_steps,
                  "gradient_path": str(gradient_path), "ranks": ranks}
        import json

        runs.atomic_write_text(Path(args.out), json.dumps(result, indent=2) + "\n")
    barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
