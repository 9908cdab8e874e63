"""Tone answers on the test set, with and without the shared prefix, side by side in one run.

    python bench/few_shot_speed.py [--model smollm2-135m-instruct|course-tiny|PATH] [--adapter DIR] [--n-test 200]
                                   [--n-shots 4]

Every tone prompt starts alike: the template's system turn, the task and the labels, and with `--n-shots` above 0 the
same solved examples. "plain" runs each prompt whole through `generate` (`evaluate.greedy_tokens`); "shared prefix"
runs the tokens all prompts share once and starts every batch from a copy of their KV cache (`share_prefix=True`,
what `evaluate.tone_accuracy` does). Both must give the same answers; the table counts them. `--n-shots 0` measures
the zero-shot prompts every lesson scores; `--adapter` puts a saved LoRA adapter on the model (a fine-tuned model
answers in two or three tokens, so the prompt is most of its cost).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--n-shots", type=int, default=4)
    parser.add_argument("--adapter", default=None, help="a saved peft adapter folder to score with (default: none)")
    args = parser.parse_args()

    from course_utils import data, evaluate, models

    model, tokenizer = models.load_model_and_tokenizer(args.model)
    if args.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, args.adapter).eval()
    train = data.load_tone("data/tone/train.jsonl")
    rows = data.load_tone("data/tone/test.jsonl", limit=args.n_test)
    labels = data.label_set(train)
    prompts = evaluate.tone_prompts(tokenizer, rows, labels, data.few_shot_examples(train, labels, args.n_shots))
    shared = evaluate.common_prefix_length([tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts])
    results = {}
    for name, share in (("plain", False), ("shared prefix", True)):
        started = time.perf_counter()
        results[name] = (evaluate.greedy_tokens(model, tokenizer, prompts, max_new_tokens=evaluate.TONE_ANSWER_TOKENS,
                                                share_prefix=share), time.perf_counter() - started)
    plain_tokens, plain_seconds = results["plain"]
    rows_out = [{"code": name, "seconds": seconds, "speedup": plain_seconds / seconds,
                 "same_answers": sum(a == b for a, b in zip(tokens, plain_tokens)), "of": len(prompts)}
                for name, (tokens, seconds) in results.items()]
    report(f"few_shot_speed_{Path(args.model).name}_{args.n_shots}shots{'_adapter' if args.adapter else ''}", rows_out,
           {"n_test": len(rows), "n_shots": args.n_shots, "adapter": args.adapter, "shared_prefix_tokens": shared})


if __name__ == "__main__":
    main()
