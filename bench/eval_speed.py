"""Scoring the tone test set on a model: the course's evaluation before and after the shared prompt cache, one run.

    python bench/eval_speed.py [--model smollm2-135m-instruct|course-tiny|PATH] [--n-test 200]

"before" is commit c93ffd5's code (bench/eval_reference.py): greedy answers of 8 tokens, and the ranked accuracy
with every label appended to the prompt and a log-softmax over the whole vocabulary at every position.
"after" is `evaluate.tone_accuracy` (answers of up to 16 tokens, strict and lenient) and `evaluate.label_scores`
(one pass over each prompt, its KV cache shared by the labels, log-probabilities at the label tokens only).
Issue #25's budget: both scores of the 200 test phrases on the real SLM within 90 s on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report  # noqa: E402
from eval_reference import ranked_tone_accuracy_before  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--n-test", type=int, default=200)
    args = parser.parse_args()

    from course_utils import data, evaluate, models

    model, tokenizer = models.load_model_and_tokenizer(args.model)
    rows = data.load_tone("data/tone/test.jsonl", limit=args.n_test)
    labels = data.label_set(data.load_tone("data/tone/train.jsonl"))

    def timed(function):
        started = time.perf_counter()
        value = function()
        return value, time.perf_counter() - started

    before_answers, before_generate = timed(lambda: evaluate.tone_accuracy(model, tokenizer, rows, labels,
                                                                           max_new_tokens=8))
    before_ranked, before_rank = timed(lambda: ranked_tone_accuracy_before(model, tokenizer, rows, labels))
    after_answers, after_generate = timed(lambda: evaluate.tone_accuracy(model, tokenizer, rows, labels))
    after_ranked, after_rank = timed(lambda: evaluate.ranked_tone_accuracy(model, tokenizer, rows, labels))
    rows_out = [
        {"code": "before (c93ffd5)", "answers_s": before_generate, "ranked_s": before_rank,
         "total_s": before_generate + before_rank, "strict": before_answers["accuracy"], "lenient": "-",
         "ranked": before_ranked},
        {"code": "after", "answers_s": after_generate, "ranked_s": after_rank, "total_s": after_generate + after_rank,
         "strict": after_answers["accuracy"], "lenient": after_answers["lenient_accuracy"], "ranked": after_ranked},
    ]
    for row in rows_out:
        row["speedup"] = rows_out[0]["total_s"] / row["total_s"]
    report(f"eval_speed_{Path(args.model).name}", rows_out, {"n_test": len(rows), "labels": labels})


if __name__ == "__main__":
    main()
