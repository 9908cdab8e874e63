"""Lesson 05's decode-speed measurement, repeated: PyTorch fp32 against the lesson's ONNX exports, in rounds.

    python bench/export_speed.py [--lesson-dir runs/cpu/05_export] [--rounds 3] [--new-tokens 32]

Lesson 05 times each of its exports once (section 6), on the first test prompt, with the same helpers this script
calls (`export.torch_decode_speed`, `export.onnx_decode_speed`). One run's ratios move by about a fifth from run to run
on a 2-core machine. This loads the merged model and the fp32, int8 and int4 exports that a lesson 05 run left in its
folder, times them in turn, round after round (so that a slow spell of the machine hits every one), and prints each
round's tokens per second and its int8 / fp32 and int4 / fp32 ratios, then their range over the rounds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, report, speed_probe  # noqa: E402

PRECISIONS = ("fp32", "int8", "int4")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesson-dir", default=str(ROOT / "runs" / "cpu" / "05_export"),
                        help="a lesson 05 run's folder: it holds merged-hf and onnx-fp32, onnx-int8, onnx-int4")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=32)
    args = parser.parse_args()
    folder = Path(args.lesson_dir)
    needed = [folder / "merged-hf", *(folder / f"onnx-{precision}" for precision in PRECISIONS)]
    missing = [str(path) for path in needed if not path.is_dir()]
    if missing:
        sys.exit(f"--lesson-dir {folder}: no {', '.join(missing)}; run lesson 05 first "
                 "(`course run 05 --profile cpu`), then give its folder")

    from course_utils import config, data, evaluate, export, models

    merged = folder / "merged-hf"
    tokenizer = models.load_tokenizer(str(merged))
    rows = data.load_tone(str(config.resolve_course_path("data/tone/train.jsonl")))
    test_rows = data.load_tone(str(config.resolve_course_path("data/tone/test.jsonl")), limit=1)
    prompt = evaluate.chat_prompts(tokenizer, [data.tone_instruction(test_rows[0]["phrase"], data.label_set(rows))])
    ids = tokenizer(prompt[0], add_special_tokens=False)["input_ids"]  # the prompt lesson 05 times: the first one
    onnx = {precision: export.load_onnx(folder / f"onnx-{precision}") for precision in PRECISIONS}
    torch_model = models.load_model(str(merged))
    probe_before = speed_probe()
    out = []
    for round_number in range(1, args.rounds + 1):
        rates = {"PyTorch fp32": export.torch_decode_speed(torch_model, ids, args.new_tokens)}
        rates |= {f"ORT {precision}": export.onnx_decode_speed(model, ids, args.new_tokens)
                  for precision, model in onnx.items()}
        row = {"round": round_number, **rates, "int8 / fp32": rates["ORT int8"] / rates["ORT fp32"],
               "int4 / fp32": rates["ORT int4"] / rates["ORT fp32"]}
        print(row, flush=True)
        out.append(row)
    for ratio in ("int8 / fp32", "int4 / fp32"):
        values = [row[ratio] for row in out]
        print(f"{ratio}: {min(values):.2f}x to {max(values):.2f}x over {len(values)} rounds")
    report("export_speed", out, {"lesson_dir": str(folder), "new_tokens": args.new_tokens,
                                 "speed_probe_before_s": probe_before, "speed_probe_after_s": speed_probe()})


if __name__ == "__main__":
    main()
