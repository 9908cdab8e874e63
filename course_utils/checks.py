"""Feedback after each exercise: right, or what to look at, in a sentence or two. A check never shows the solution.

Each check calls the learner's function on a few inputs and compares it with what the libraries do (peft,
bitsandbytes, the tokenizer's chat template, the course's estimator). It prints its verdict and returns
True or False; the lesson's last cell asserts that every exercise passed. An exercise not yet written stops
the notebook there, with its hint. Every "not yet" ends with where to find a solution on purpose (`STUCK`).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

NOT_WRITTEN = "not written yet: replace the `raise NotImplementedError` line with your code, then run this cell again."
STUCK = "Stuck? `course solution {exercise}` shows a solution."  # the last words of every "not yet"


def report(exercise: str, ok: bool, message: str = "") -> bool:
    """Print the verdict for one exercise and return it; a "not yet" ends with the `STUCK` pointer."""
    if not ok:
        message = message.strip()
        if message and message[-1] not in ".!?":
            message += "."
        message = f"{message} {STUCK.format(exercise=exercise)}"
    print(f"{'✅' if ok else '❌'} Exercise {exercise}: {'right' if ok else 'not yet'}. {message.strip()}".rstrip())
    return ok


def attempt(exercise: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[bool, Any]:
    """Call the learner's function; on an exception report it in plain words and return (False, None).

    A stub that still raises NotImplementedError is reported and raised again, so "Run All" stops at the first
    exercise not yet written (as the student versions must).
    """
    try:
        return True, function(*args, **kwargs)
    except NotImplementedError as error:  # the exercise is still a stub: stop here, with its hint
        report(exercise, False, NOT_WRITTEN)
        raise NotImplementedError(str(error) or f"Exercise {exercise} is not written yet") from None
    except Exception as error:  # the learner's code raised: say what, and where to look
        report(exercise, False, f"your code raised {type(error).__name__}: {error}")
    return False, None


# 01 · the chat template -----------------------------------------------------------------------------------------


def chat_text(format_row: Callable[..., str], tokenizer: Any, rows: Sequence[dict[str, str]], labels: Sequence[str],
              exercise: str = "1.1") -> bool:
    """`format_row(tokenizer, row, labels)` must give the full templated text the model trains on."""
    from course_utils import data

    for row in rows:
        ok, text = attempt(exercise, format_row, tokenizer, row, labels)
        if not ok:
            return False
        expected = data.conversation_text(tokenizer, row, labels)
        if not isinstance(text, str):
            return report(exercise, False, f"return the text as one string (got {type(text).__name__}).")
        if text == expected:
            continue
        if row["tone"] not in text:
            return report(exercise, False, "the answer is missing: the conversation ends with the assistant's label.")
        if text.count(row["phrase"]) != 1:
            return report(exercise, False, "the phrase should appear once, inside the user's instruction.")
        return report(exercise, False, "close, but not the template's text: build the messages list (user, then "
                                       "assistant) and let apply_chat_template write the markers; tokenize=False.")
    return report(exercise, True, "this is exactly the string SFTTrainer tokenizes for every row.")


def answer_start(find_start: Callable[..., int], tokenizer: Any, rows: Sequence[dict[str, str]],
                 labels: Sequence[str], exercise: str = "1.2") -> bool:
    """`find_start(tokenizer, row, labels)` must give the index of the first token that carries the loss."""
    from course_utils import data

    for row in rows:
        ok, start = attempt(exercise, find_start, tokenizer, row, labels)
        if not ok:
            return False
        messages = data.tone_messages(row, labels)
        prompt = tokenizer.apply_chat_template(messages["prompt"], tokenize=False, add_generation_prompt=True)
        expected = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        if not isinstance(start, int):
            return report(exercise, False, f"return one whole number, a token index (got {type(start).__name__}).")
        if start < expected:
            return report(exercise, False, "your index falls inside the prompt: the loss starts after the "
                                           "assistant's header, the generation prompt, not at its start.")
        if start > expected:
            return report(exercise, False, "your index is past the first answer token: count the tokens of the "
                                           "prompt *with* the generation prompt, and nothing more.")
    return report(exercise, True, "every token from there on (the label and the end-of-turn marker) carries the loss.")


# 02 · what PEFT trains ------------------------------------------------------------------------------------------


def lora_share(share: Callable[[int, int, int], float], exercise: str = "2.1") -> bool:
    """`share(d_in, d_out, r)`: the trainable share of one linear layer with a LoRA adapter, checked with peft."""
    import torch
    from peft import LoraConfig, get_peft_model

    for d_in, d_out, r in ((64, 64, 8), (576, 192, 16), (1536, 576, 4)):
        ok, value = attempt(exercise, share, d_in, d_out, r)
        if not ok:
            return False
        layer = torch.nn.Sequential()
        layer.add_module("proj", torch.nn.Linear(d_in, d_out, bias=False))
        trainable, total = get_peft_model(layer, LoraConfig(r=r, target_modules=["proj"])).get_nb_trainable_parameters()
        if not isinstance(value, (int, float)) or not math.isclose(value, trainable / total, rel_tol=1e-6):
            if isinstance(value, (int, float)) and math.isclose(value, trainable / (d_in * d_out), rel_tol=1e-6):
                return report(exercise, False, "the total should include the adapter too: frozen weights plus A and B.")
            return report(exercise, False, f"for a {d_in} x {d_out} layer at rank {r} peft trains a different share: "
                                           "count A's and B's entries (each has r as one of its sides).")
    return report(exercise, True, "it matches peft's get_nb_trainable_parameters() on three layer shapes.")


def trainable_count(count: Callable[[Any], tuple[int, int]], model: Any, exercise: str = "2.2") -> bool:
    """`count(model)` must return (trainable, total) parameters, as peft counts them."""
    ok, value = attempt(exercise, count, model)
    if not ok:
        return False
    expected = tuple(model.get_nb_trainable_parameters())
    if not isinstance(value, tuple) or len(value) != 2:
        return report(exercise, False, "return a pair: (trainable, total).")
    if value == expected:
        return report(exercise, True, f"{value[0]:,} of {value[1]:,} weights train: {value[0] / value[1]:.2%}.")
    if value[1] == expected[1]:
        return report(exercise, False, "the total is right, the trainable count is not: only parameters with "
                                       "requires_grad=True train.")
    return report(exercise, False, "count every parameter's numel() for the total, and those with requires_grad for "
                                   "the trainable ones.")


# 03 · LoRA ------------------------------------------------------------------------------------------------------


def lora_delta(delta: Callable[..., Any], peft_layer: Any, exercise: str = "3.1") -> bool:
    """`delta(A, B, alpha, r)` must equal peft's get_delta_weight for a trained lora.Linear."""
    import torch

    A, B = peft_layer.lora_A["default"].weight.detach(), peft_layer.lora_B["default"].weight.detach()
    r, alpha = A.shape[0], peft_layer.lora_alpha["default"]
    ok, value = attempt(exercise, delta, A, B, alpha, r)
    if not ok:
        return False
    expected = peft_layer.get_delta_weight("default").detach()
    if not torch.is_tensor(value) or value.shape != expected.shape:
        shape = tuple(value.shape) if torch.is_tensor(value) else type(value).__name__
        return report(exercise, False, f"the correction has the weight's shape {tuple(expected.shape)} (got {shape}): "
                                       "which of B A and A B gives that?")
    if torch.allclose(value, expected, atol=1e-6):
        return report(exercise, True, "it equals peft's get_delta_weight(): merging adds exactly this to W.")
    product = B @ A
    if any(torch.allclose(value, product * factor, atol=1e-6) for factor in (1.0, r / alpha, (alpha / r) ** 2)):
        return report(exercise, False, "right product, wrong factor in front of it: compare with the scale that "
                                       "LoRALinear above multiplies its correction by.")
    return report(exercise, False, "the values differ from peft's: write LoRALinear's forward pass above as "
                                   "(W + correction) x, and read the correction off.")


def target_modules(choose: Callable[[Any], list[str]], models: dict[str, Any], exercise: str = "3.2") -> bool:
    """`choose(model)` must name the linear layers inside the decoder blocks, by their short names."""
    import torch

    for name, model in models.items():
        ok, value = attempt(exercise, choose, model)
        if not ok:
            return False
        expected = sorted({full.rsplit(".", 1)[-1] for full, module in model.named_modules()
                           if isinstance(module, torch.nn.Linear) and ".layers." in full})
        chosen = sorted(set(value)) if isinstance(value, (list, tuple, set)) else value
        if chosen == expected:
            continue
        if isinstance(chosen, list) and "lm_head" in chosen:
            return report(exercise, False, "lm_head is outside the decoder blocks: LoRA here adapts the layers inside.")
        if isinstance(chosen, list) and set(chosen) < set(expected):
            return report(exercise, False, f"some linear layers of the {name} model are missing: look at every "
                                           "nn.Linear inside model.model.layers, attention and MLP.")
        return report(exercise, False, f"for the {name} model, keep the short names (the part after the last dot) "
                                       "of the nn.Linear modules inside the decoder layers, each once.")
    return report(exercise, True, f"right for {', '.join(models)}: each architecture names its layers its own way.")


# 04 · NF4 -------------------------------------------------------------------------------------------------------


def nf4_block(quantize: Callable[..., Any], block: Any, exercise: str = "4.1") -> bool:
    """`quantize(block, levels)` must round a block to NF4 and back the way bitsandbytes does."""
    import bitsandbytes.functional as bnbf
    import torch

    levels = bnbf.get_4bit_type("nf4", device="cpu")
    ok, value = attempt(exercise, quantize, block.clone(), levels.clone())
    if not ok:
        return False
    packed, state = bnbf.quantize_4bit(block.reshape(1, -1), blocksize=block.numel(), quant_type="nf4")
    expected = bnbf.dequantize_4bit(packed, state).reshape(-1)
    if not torch.is_tensor(value) or value.shape != block.shape:
        return report(exercise, False, "return the dequantized block: a tensor of the block's shape.")
    if torch.allclose(value, expected, atol=1e-5):
        error = (value - block).abs().mean().item()
        return report(exercise, True, f"it matches bitsandbytes; mean error {error:.4f} on values up to "
                                      f"{block.abs().max().item():.3f}.")
    if torch.allclose(value, expected / expected.abs().max(), atol=1e-5):
        return report(exercise, False, "the levels are right but the scale is missing: multiply back by the absmax.")
    return report(exercise, False, "scale the block by its largest absolute value, pick the nearest of the 16 levels "
                                   "for each value, then scale back.")


def bits_per_weight(bits: Callable[[int, bool], float], exercise: str = "4.2") -> bool:
    """`bits(block_size, double_quant)` must give the storage per weight that bitsandbytes' NF4 uses."""
    import bitsandbytes.functional as bnbf
    import torch

    weight = torch.randn(256 * 64 * 4, 1, generator=torch.Generator().manual_seed(0))
    for block_size in (64, 128):
        for double in (False, True):
            ok, value = attempt(exercise, bits, block_size, double)
            if not ok:
                return False
            packed, state = bnbf.quantize_4bit(weight, blocksize=block_size, quant_type="nf4", compress_statistics=double)
            stored = packed.numel() * packed.element_size() * 8 + state.absmax.numel() * state.absmax.element_size() * 8
            if double:
                stored += state.state2.absmax.numel() * state.state2.absmax.element_size() * 8
            expected = stored / weight.numel()
            if not isinstance(value, (int, float)) or not math.isclose(value, expected, rel_tol=1e-3):
                where = "with double quantization" if double else "without double quantization"
                return report(exercise, False, f"block size {block_size}, {where}: not what bitsandbytes stores. "
                                               "Count 4 bits for every weight, then share each block's scale among "
                                               "the block's weights (with double quantization, also each 32-bit "
                                               "float among the 256 blocks that share it).")
    return report(exercise, True, "it matches the bytes bitsandbytes stores for a 65,536-weight matrix.")


# 05 · export ----------------------------------------------------------------------------------------------------


def parity(same_answer: Callable[[list, list, int], bool], eos_id: int, exercise: str = "5.2") -> bool:
    """`same_answer(reference, exported, eos_id)`: equal up to and including the first end-of-sequence token."""
    a, b, c, d = (eos_id + k for k in (1, 2, 3, 4))  # tokens that are not the end-of-sequence token
    cases = [  # (reference tokens, exported tokens, same?)
        ([a, b, eos_id, 0, 0], [a, b, eos_id], True),  # generate pads after the end; the ONNX generator stops there
        ([a, b, c], [a, b, c], True),
        ([a, b, c], [a, d, c], False),
        ([a, eos_id, 0], [a, b, eos_id], False),  # one stopped early: a different answer
        ([a, b, c, d], [a, b, c], False),  # cut short without an end token
    ]
    for reference, exported, expected in cases:
        ok, value = attempt(exercise, same_answer, list(reference), list(exported), eos_id)
        if not ok:
            return False
        if value is not expected:
            if expected and reference != exported:
                return report(exercise, False, "tokens after the end-of-sequence token are padding: ignore them "
                                               "(one side may stop there, the other pad).")
            return report(exercise, False, "two answers are the same only if every token up to the end matches, "
                                           "and both end at the same place.")
    return report(exercise, True, "it tells a real difference from padding after the end.")


def onnx_greedy(generate: Callable[..., list[int]], model: Any, prompts_ids: Sequence[Sequence[int]],
                exercise: str = "5.1") -> bool:
    """`generate(model, input_ids, max_new_tokens)` with onnxruntime-genai must give the course's greedy tokens."""
    from course_utils import export

    for ids in prompts_ids:
        ok, value = attempt(exercise, generate, model, list(ids), 8)
        if not ok:
            return False
        expected = export.generate_tokens(model, ids, 8)
        if not isinstance(value, list) or [int(t) for t in value] != expected:
            shown = value if isinstance(value, list) else type(value).__name__
            if isinstance(value, list) and value[: len(ids)] == list(ids):
                return report(exercise, False, "return only the new tokens, not the prompt's.")
            return report(exercise, False, f"got {shown!r:.60}: set max_length to the prompt's length plus the new "
                                           "tokens, do_sample=False, append the prompt, then loop until is_done().")
    return report(exercise, True, "the same tokens as the course's export.generate_tokens.")


# 06 · evaluation ------------------------------------------------------------------------------------------------


def bootstrap(interval: Callable[..., tuple[float, float]], exercise: str = "6.1") -> bool:
    """`interval(correct, resamples, seed)` must be a 95 % percentile bootstrap interval of the accuracy."""
    from course_utils import evaluate

    for correct in ([True] * 130 + [False] * 70, [True] * 45 + [False] * 5):
        ok, value = attempt(exercise, interval, correct, 2000, 0)
        if not ok:
            return False
        if not isinstance(value, tuple) or len(value) != 2:
            return report(exercise, False, "return a pair (low, high).")
        low, high = value
        mean = sum(correct) / len(correct)
        reference_low, reference_high = evaluate.bootstrap_ci(correct, seed=0, resamples=2000)
        if not low <= mean <= high:
            return report(exercise, False, "the interval must contain the accuracy itself: is it (low, high)?")
        if high - low < 0.5 * (reference_high - reference_low):
            return report(exercise, False, "your interval is too narrow: each resample draws len(correct) answers "
                                           "*with replacement*, and the bounds are the 2.5th and 97.5th percentiles.")
        if high - low > 1.5 * (reference_high - reference_low):
            return report(exercise, False, "your interval is too wide: the bounds are the 2.5th and 97.5th "
                                           "percentiles of the resampled accuracies.")
    return report(exercise, True, "its width agrees with the harness's interval (within the bootstrap's own noise).")


def stratified_split(split: Callable[..., tuple[list, list]], rows: Sequence[dict[str, str]],
                     exercise: str = "6.2") -> bool:
    """`split(rows, fraction, seed)` must hold out about `fraction` of each label, disjoint from training."""
    from collections import Counter

    for fraction in (0.15, 0.2):
        given = list(rows)
        ok, value = attempt(exercise, split, given, fraction, 0)
        if not ok:
            return False
        if given != list(rows):
            return report(exercise, False, "your function reordered or changed the list it was given: shuffle a copy.")
        ok, again = attempt(exercise, split, given, fraction, 0)
        if not ok:
            return False
        if again != value:
            return report(exercise, False, "the same rows and seed gave two different splits: draw with "
                                           "random.Random(seed), not the global random module.")
        if not isinstance(value, tuple) or len(value) != 2:
            return report(exercise, False, "return a pair (train, validation).")
        train, validation = value
        key = lambda row: (row["phrase"], row["tone"])  # noqa: E731
        if Counter(map(key, train)) + Counter(map(key, validation)) != Counter(map(key, rows)):
            return report(exercise, False, "every row must land in exactly one of the two parts, none lost, none twice.")
        per_label, held = Counter(r["tone"] for r in rows), Counter(r["tone"] for r in validation)
        off = {label: held[label] for label, n in per_label.items() if abs(held[label] - fraction * n) > 1}
        if off:
            return report(exercise, False, f"for {sorted(off)[0]!r} the validation share is off: take the fraction "
                                           "from each label's rows separately (that is what stratified means).")
    return report(exercise, True, "each label keeps its share in both parts, and no row is in both.")


def macro_f1(score: Callable[..., float], predicted: Sequence[str], truth: Sequence[str], labels: Sequence[str],
             exercise: str = "6.1") -> bool:
    """`score(predicted, truth, labels)` must equal sklearn's macro-F1 over `labels`."""
    from sklearn.metrics import f1_score

    cases = [(list(predicted), list(truth)), (["a", "a", "b", "(invalid)"], ["a", "b", "b", "b"]),
             (["a", "a"], ["b", "b"])]  # "b" never predicted, "a" never true: undefined ratios count as 0
    for (guesses, answers), names in zip(cases, [list(labels), ["a", "b"], ["a", "b"]]):
        ok, value = attempt(exercise, score, guesses, answers, names)
        if not ok:
            return False
        expected = f1_score(answers, guesses, labels=names, average="macro", zero_division=0)
        if not isinstance(value, (int, float)) or not math.isclose(value, expected, abs_tol=1e-9):
            accuracy = sum(g == a for g, a in zip(guesses, answers)) / len(answers)
            if isinstance(value, (int, float)) and math.isclose(value, accuracy, abs_tol=1e-9):
                return report(exercise, False, "that is the accuracy: F1 is computed per label, then averaged.")
            return report(exercise, False, "not sklearn's value: compute precision and recall per label (0 when "
                                           "undefined), F1 per label, then the plain mean over the labels.")
    return report(exercise, True, "it equals sklearn's f1_score(average=\"macro\").")


# 07 · troubleshooting -------------------------------------------------------------------------------------------

CURVES = {  # (training losses, validation losses every few steps) -> what went wrong
    "healthy": ([2.0, 1.2, 0.8, 0.6, 0.5, 0.45], [1.9, 1.2, 0.9, 0.75, 0.7, 0.68]),
    "overfitting": ([2.0, 1.0, 0.4, 0.1, 0.03, 0.01], [1.9, 1.1, 0.8, 0.9, 1.1, 1.3]),
    "diverging": ([2.0, 3.5, 9.0, 40.0, float("nan"), float("nan")], [2.1, 4.0, 12.0, 60.0, float("nan"), float("nan")]),
}


def diagnosis(diagnose: Callable[[list, list], str], measured: dict[str, tuple[list, list]] | None = None,
              exercise: str = "7.1") -> bool:
    """`diagnose(train_losses, validation_losses)` must name the problem in each example curve."""
    cases = dict(CURVES) | dict(measured or {})
    for expected, (train_losses, validation_losses) in cases.items():
        expected = expected.split(" ")[0]
        ok, value = attempt(exercise, diagnose, list(train_losses), list(validation_losses))
        if not ok:
            return False
        if value != expected:
            hints = {"diverging": "a loss that grows, or becomes nan, is diverging; check for that first.",
                     "overfitting": "compare the last validation loss with its best: training falls, validation "
                                    "turns back up.",
                     "healthy": "both losses falling (or flat at the end) is healthy: no validation turn, no growth."}
            return report(exercise, False, f"{'an' if expected[0] in 'aeiou' else 'a'} {expected} curve was called "
                                           f"{value!r}: {hints[expected]}")
    return report(exercise, True, f"it names the problem in all {len(cases)} curves.")


def largest_batch(choose: Callable[..., int], estimate_gb: Callable[[int], float], budget_gb: float,
                  exercise: str = "7.2") -> bool:
    """`choose(estimate_gb, budget_gb)` must be the largest batch (1 to 512) whose estimate fits, or 0."""
    for budget in (budget_gb, budget_gb / 4, 0.001):
        ok, value = attempt(exercise, choose, estimate_gb, budget)
        if not ok:
            return False
        fitting = [batch for batch in range(1, 513) if estimate_gb(batch) <= budget]
        expected = max(fitting) if fitting else 0
        if value != expected:
            if fitting and isinstance(value, int) and value > expected:
                return report(exercise, False, f"at {budget:.3g} GB your batch does not fit: the estimate must be at "
                                               "most the budget.")
            if not fitting:
                return report(exercise, False, "when not even a batch of 1 fits, return 0: time for LoRA or QLoRA.")
            return report(exercise, False, f"at {budget:.3g} GB a larger batch still fits: try every size from 1 "
                                           "to 512, or search.")
    return report(exercise, True, "it finds the largest batch the estimator allows, and 0 when none fits.")


# 08 · scale-out -------------------------------------------------------------------------------------------------


def accumulation(steps: Callable[[int, int, int], int], exercise: str = "8.1") -> bool:
    """`steps(global_batch, per_device_batch, processes)` = accumulation steps; a ValueError when it cannot divide."""
    for args, expected in (((64, 4, 2), 8), ((16, 8, 1), 2), ((16, 8, 2), 1), ((32, 4, 8), 1)):
        ok, value = attempt(exercise, steps, *args)
        if not ok:
            return False
        if value != expected:
            return report(exercise, False, f"for a global batch of {args[0]}, {args[1]} per device and {args[2]} "
                                           "processes: each optimizer step sees per-device × processes × steps.")
    try:
        steps(20, 8, 1)
    except ValueError:
        return report(exercise, True, "the steps are right, and a batch that cannot be split evenly is refused.")
    except Exception as error:  # anything else is not the agreed error
        return report(exercise, False, f"a global batch of 20 with 8 per device on 1 process should raise "
                                       f"ValueError (got {type(error).__name__}).")
    return report(exercise, False, "a global batch of 20 with 8 per device on 1 process cannot be split evenly: "
                                   "raise ValueError.")


def bytes_per_rank(held: Callable[[int, int, bool], float], parameters: int, processes: int,
                   measured_bytes: float, exercise: str = "8.2") -> bool:
    """`held(parameters, processes, sharded)`: fp32 AdamW training bytes per process, checked on FSDP's shards."""
    ok, value = attempt(exercise, held, parameters, processes, True)
    if not ok:
        return False
    if not isinstance(value, (int, float)) or not math.isclose(value, measured_bytes, rel_tol=0.01):
        return report(exercise, False, "with sharding, each process holds 1/processes of the weights (4 bytes each), "
                                       "their gradients (4) and AdamW's two states (8).")
    ok, whole = attempt(exercise, held, parameters, processes, False)
    if not ok:
        return False
    if not isinstance(whole, (int, float)) or not math.isclose(whole, measured_bytes * processes, rel_tol=0.01):
        return report(exercise, False, "without sharding (DDP) every process holds a full copy of all three.")
    return report(exercise, True, "it matches the bytes the FSDP2 processes reported holding.")
