"""Decode speed and time to first token: PyTorch fp32 vs onnxruntime-genai fp32 vs int4, on one model and prompt.

    python bench/inference.py [--model course-tiny|135m|PATH] [--new-tokens 64] [--device cpu|cuda]

Each onnxruntime-genai model runs twice: on PyTorch's thread count, as `export.load_onnx` loads it for the lessons,
and on the thread count onnxruntime picks for itself (`og.Model(folder)`), which was one thread on a 2-core Intel Xeon.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, report, smollm2_135m_folder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="135m", help="course-tiny, 135m (SmolLM2-135M shape, random init) or a folder")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()

    import onnxruntime_genai as og
    import torch

    from course_utils import export, models
    from course_utils.memory import MB

    folder = smollm2_135m_folder() if args.model == "135m" else Path(models.resolve_model_path(args.model))
    tokenizer = models.load_tokenizer(str(folder))
    ids = tokenizer("What is the tone of this phrase? I am grateful because the band played our favourite song.",
                    add_special_tokens=False)["input_ids"]
    provider = "cuda" if args.device == "cuda" else "cpu"
    onnx = {p: export.build_onnx(folder, ROOT / ".cache" / "bench-onnx" / f"{folder.name}-{p}-{provider}", p, provider)
            for p in ("fp32", "int4")}
    torch_model = models.load_model(str(folder), dtype=torch.float32, device=args.device)

    def torch_first_token() -> float:
        started = time.perf_counter()
        torch_model.generate(torch.tensor([ids], device=args.device), max_new_tokens=1, do_sample=False)
        return time.perf_counter() - started

    def onnx_first_token(model) -> float:
        started = time.perf_counter()
        next(export.stream_tokens(model, ids, 1))
        return time.perf_counter() - started

    rows = [{"runtime": "torch_fp32", "tokens_per_s": export.torch_decode_speed(torch_model, ids, args.new_tokens),
             "first_token_ms": 1000 * min(torch_first_token() for _ in range(3)),
             "size_mb": sum(f.stat().st_size for f in folder.glob("*.safetensors")) / MB}]
    rows[0]["threads"] = torch.get_num_threads()
    for precision, path in onnx.items():
        for threads, model in ((torch.get_num_threads(), export.load_onnx(path)), ("onnxruntime's", og.Model(str(path)))):
            rows.append({"runtime": f"ort_{precision}", "threads": threads,
                         "tokens_per_s": export.onnx_decode_speed(model, ids, args.new_tokens),
                         "first_token_ms": 1000 * min(onnx_first_token(model) for _ in range(3)),
                         "size_mb": sum(f.stat().st_size for f in path.glob("model.onnx*")) / MB})
    base = rows[0]["tokens_per_s"]
    for row in rows:
        row["speedup_vs_torch"] = row["tokens_per_s"] / base
    report(f"inference_{folder.name}_{args.device}", rows, {"new_tokens": args.new_tokens, "prompt_tokens": len(ids)})


if __name__ == "__main__":
    main()
