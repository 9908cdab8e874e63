"""SmolLM2's default system prompt in every tone example, against an empty system turn, side by side in one run.

    python bench/system_prompt.py [--steps 30] [--rounds 2] [--n-test 200]

SmolLM2-135M-Instruct's chat template adds a system turn ("You are a helpful AI assistant named SmolLM, trained by
Hugging Face") to any conversation that has none, and every tone prompt of the course has none, so about 20 of a tone
example's 76 tokens are that sentence. Issue 25 names the prompts' default system prompt as a lever for the cpu
profile's time. An explicit empty system turn ({"role": "system", "content": ""}) keeps the template's own format
and drops the sentence. This measured what the lever is worth before any lesson was changed; since then the
course's `models.load_tokenizer` drops it (its template writes the empty system turn itself), so the bench loads the
tokenizer with `keep_default_system=True` to compare the two ways:

- tokens per training example, and seconds per LoRA step at the cpu profile (the median of `--rounds` timed runs of 6
  steps each way, alternating, so that a slow spell of the machine hits both);
- strict accuracy on `--n-test` held-out phrases, zero-shot and after the cpu profile's LoRA run (`--steps` steps of
  8 at 3e-4, from the same seed), and the seconds each scoring took.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report, speed_probe  # noqa: E402

EMPTY_SYSTEM = [{"role": "system", "content": ""}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--n-test", type=int, default=200)
    args = parser.parse_args()

    from datasets import Dataset
    from transformers import set_seed

    from course_utils import config, data, evaluate, models, train

    params = config.resolve_params("cpu")
    tokenizer = models.load_tokenizer(params.model_id, keep_default_system=True)  # as before the course dropped it
    rows = data.load_tone(params.tone_train)
    test_rows = data.load_tone(params.tone_test, limit=args.n_test)
    labels = data.label_set(rows)
    system = {"default system prompt": [], "empty system turn": EMPTY_SYSTEM}

    def dataset(way: str) -> Dataset:
        pairs = [data.tone_messages(row, labels) for row in rows]
        return Dataset.from_list([{"prompt": system[way] + pair["prompt"], "completion": pair["completion"]}
                                  for pair in pairs])

    def prompts(way: str) -> list[str]:
        return [tokenizer.apply_chat_template(system[way] + data.tone_messages(row, labels)["prompt"], tokenize=False,
                                              add_generation_prompt=True) for row in test_rows]

    def scored(model, way: str) -> tuple[float, float]:
        started = time.perf_counter()
        answers = evaluate.generate_answers(model, tokenizer, prompts(way), max_new_tokens=evaluate.TONE_ANSWER_TOKENS,
                                            batch_size=32, share_prefix=True)
        seconds = time.perf_counter() - started
        right = sum(evaluate.parse_label(answer, labels) == row["tone"] for answer, row in zip(answers, test_rows))
        return right / len(test_rows), seconds

    def lora_run(way: str, steps: int, work: str):
        set_seed(params.seed)
        model = models.load_model(params.model_id)
        peft_config = train.make_peft_config("lora", model, lora_r=params.lora_r, lora_alpha=params.lora_alpha)
        return train.fine_tune(model, tokenizer, dataset(way), params, Path(work) / "trainer", peft_config,
                               max_steps=steps)

    probe_before = speed_probe()
    out = []
    with tempfile.TemporaryDirectory() as work:
        step_seconds: dict[str, list[float]] = {way: [] for way in system}
        for _ in range(args.rounds):
            for way in system:
                step_seconds[way].append(lora_run(way, 6, work).seconds_per_step)
        base = models.load_model(params.model_id).eval()
        for way in system:
            texts = [tokenizer.apply_chat_template(system[way] + pair["prompt"] + pair["completion"], tokenize=False)
                     for pair in (data.tone_messages(row, labels) for row in rows)]
            tokens = statistics.mean(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])
            zero_shot, zero_shot_seconds = scored(base, way)
            tuned = lora_run(way, args.steps, work)
            accuracy, scoring_seconds = scored(tuned.model, way)
            out.append({"prompts": way, "tokens per example": round(tokens, 1),
                        "s / LoRA step": statistics.median(step_seconds[way]),
                        "zero-shot accuracy": zero_shot, "zero-shot scoring s": zero_shot_seconds,
                        f"LoRA {args.steps} steps accuracy": accuracy, "tuned scoring s": scoring_seconds})
    first = out[0]
    for row in out:
        row["step time ratio"] = row["s / LoRA step"] / first["s / LoRA step"]
    report("system_prompt", out, {"speed_probe_before_s": probe_before, "speed_probe_after_s": speed_probe(),
                                  "steps": args.steps, "rounds": args.rounds, "n_test": args.n_test})


if __name__ == "__main__":
    main()
