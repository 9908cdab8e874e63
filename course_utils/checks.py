"""Feedback after each exercise: right, or what to look at, in a sentence or two. A check never shows the solution.

Each check calls the learner's function on a few inputs and compares it with what the libraries do (peft,
bitsandbytes, the tokenizer's chat template, the course's estimator). It prints its verdict and returns
True or False; the lesson's last cell asserts that every exercise passed. An exercise not yet written stops
the notebook there, with its hint. Every "not yet" ends with where to find a solution on purpose (`STUCK`).
"""

from __future__ import annotations

import inspect
import math
import types
from typing import Any, Callable, Sequence

NOT_WRITTEN = "not written yet: replace the `raise NotImplementedError` line with your code, then run this cell again."
STUCK = "Stuck? `course solution {exercise}` shows a solution."  # the last words of every "not yet"

# The functions, of the course or of a library, that already compute an exercise's answer. A solution that calls one
# (by its name, through an alias, or through another function of the learner's) is refused: the exercise is to write
# it by hand. Library calls that are the lesson's subject (apply_chat_template, named_modules, og.Generator) stay open.
GIVEAWAYS: dict[str, tuple[str, ...]] = {
    "1.1": ("conversation_text", "tone_messages", "tone_dataset", "padded_batch"),
    "2.2": ("_reference_losses", "fine_tune", "SFTTrainer", "Trainer"),
    "2.3": ("data_collator", "DataCollatorForLanguageModeling", "DataCollatorForSeq2Seq", "DataCollatorWithPadding"),
    "3.1": ("get_delta_weight", "merge", "merge_and_unload", "merge_adapter"),
    "3.2": ("find_lora_target_modules", "block_linear_layers"),
    "4.1": ("quantize_4bit", "dequantize_4bit", "quantize_nf4", "dequantize_nf4", "Params4bit", "Linear4bit"),
    "5.1": ("generate_tokens", "stream_tokens", "onnx_answers", "generate_answers", "greedy_tokens"),
    "6.1": ("f1_score", "fbeta_score", "precision_recall_fscore_support", "classification_report"),
    "6.2": ("validation_split", "train_test_split", "StratifiedShuffleSplit", "StratifiedKFold"),
    "6.3": ("_smallest_within_interval", "variant_choice"),
    "6.4": ("_field_accuracy",),
    "7.1": ("divergence",),
    "8.2": ("GradScaler", "_amp_update_scale_", "_amp_foreach_non_finite_check_and_unscale_", "loss_scaler"),
    "9.1": ("compute_loss", "_compute_loss", "DPOTrainer", "dpo_loss"),
    "9.2": ("_pairs_from_mistakes", "load_preference", "preference_rows", "make_preference"),
    "10.1": ("_gguf_bits_per_weight", "tensor_types"),
    "10.2": ("_turn_stops", "modelfile", "modelfile_stops", "end_of_turn_ids"),
}


def names_called(function: Callable[..., Any]) -> set[str]:
    """Every global and attribute name `function`'s code reads, with nested code, the names of the objects those
    globals hold (an alias such as `f = data.conversation_text` counts as `conversation_text`), and the names read
    by the other functions of the learner's own namespace that it uses."""
    seen: set[int] = set()
    names: set[str] = set()
    pending = [function]
    while pending:
        current = pending.pop()
        code = getattr(current, "__code__", None)
        if code is None or id(code) in seen:
            continue
        seen.add(id(code))
        namespace = getattr(current, "__globals__", {})
        codes = [code]
        while codes:
            block = codes.pop()
            codes += [const for const in block.co_consts if isinstance(const, types.CodeType)]
            for name in block.co_names:
                names.add(name)
                value = namespace.get(name)
                names.add(getattr(value, "__name__", name))
                if inspect.isfunction(value) and value.__globals__ is namespace:  # the learner's own helper
                    pending.append(value)
    return names


def giveaway(exercise: str, function: Callable[..., Any]) -> str | None:
    """Why `function` is refused for `exercise` (it calls a function that computes the answer), or None."""
    used = sorted(names_called(function) & set(GIVEAWAYS.get(exercise, ())))
    if not used:
        return None
    return (f"your code calls {', '.join(f'`{name}`' for name in used)}, which already computes this answer: "
            "write it by hand, with the lesson's idea")


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
    exercise not yet written (as the student versions must). A function that calls one of the exercise's
    `GIVEAWAYS` is refused before it runs.
    """
    refused = giveaway(exercise, function)
    if refused:
        report(exercise, False, refused)
        return False, None
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
    return report(exercise, True, "every token from there on (the label, the end-of-turn marker and, with a template "
                                  "that adds one, the line break after it) carries the loss.")


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


def _reference_losses(model: Any, batch: dict[str, Any], steps: int, learning_rate: float) -> list[float]:
    """What `trainer.train()` does at its core, for the check to compare with: AdamW on the trainable weights."""
    import torch

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
    model.train()
    losses = []
    for _ in range(steps):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def training_loop(train_steps: Callable[..., list[float]], make_model: Callable[[], Any], batch: dict[str, Any],
                  steps: int, learning_rate: float, exercise: str = "2.2") -> bool:
    """`train_steps(model, batch, steps, learning_rate)` must train `make_model()`'s adapter with AdamW for `steps`
    steps on `batch` and return each step's loss: compared step by step with the same loop on a second fresh model."""
    import torch

    model = make_model()
    frozen_name, frozen = next((name, p.detach().clone()) for name, p in model.named_parameters()
                               if not p.requires_grad)
    ok, losses = attempt(exercise, train_steps, model, dict(batch), steps, learning_rate)
    if not ok:
        return False
    if not isinstance(losses, (list, tuple)) or not all(isinstance(loss, float) for loss in losses):
        return report(exercise, False, "return a list with one Python float per step: a loss tensor's .item().")
    if len(losses) != steps:
        return report(exercise, False, f"return one loss per step: {steps} of them (got {len(losses)}).")
    if not all(math.isfinite(loss) for loss in losses):
        return report(exercise, False, "a loss is nan or inf: the updates are too large. Use the learning_rate given.")
    if not torch.equal(dict(model.named_parameters())[frozen_name].detach(), frozen):
        return report(exercise, False, "the frozen base model moved: only the adapter's weights (requires_grad) train.")
    reference = _reference_losses(make_model(), dict(batch), steps, learning_rate)
    if not math.isclose(losses[0], reference[0], rel_tol=1e-4):
        return report(exercise, False, "the first loss is not the model's loss on this batch before any update: "
                                       "call the model on the whole batch (its labels included) and read .loss.")
    if losses[-1] >= losses[0]:
        return report(exercise, False, "the loss did not fall: is optimizer.step() called after loss.backward(), "
                                       "on an optimizer that holds the adapter's weights?")
    if not all(math.isclose(mine, theirs, rel_tol=1e-3) for mine, theirs in zip(losses, reference)):
        return report(exercise, False, "the loss falls, but not as AdamW's does: create the optimizer once, before "
                                       "the loop; one step per batch, at learning_rate; and clear the gradients "
                                       "after every step (zero_grad).")
    return report(exercise, True, f"the loss fell from {losses[0]:.3f} to {losses[-1]:.3f} in {steps} steps, exactly "
                                  "as AdamW's. Around this loop trainer.train() adds batching, the learning-rate "
                                  "schedule, gradient clipping and logging.")


def collator(collate: Callable[[list[dict[str, list[int]]], int], dict[str, Any]], examples: list[dict[str, list[int]]],
             pad_token_id: int, expected: dict[str, Any], exercise: str = "2.3") -> bool:
    """`collate(examples, pad_token_id)` must give trl's batch (`expected`, from the trainer's own data collator):
    input_ids padded on the right, the attention mask, and labels that are -100 on the prompt and the padding."""
    import torch

    ok, batch = attempt(exercise, collate, [dict(example) for example in examples], pad_token_id)
    if not ok:
        return False
    if not isinstance(batch, dict) or not {"input_ids", "attention_mask", "labels"} <= set(batch):
        return report(exercise, False, "return a dict with input_ids, attention_mask and labels.")
    try:
        got = {key: torch.as_tensor(batch[key]) for key in ("input_ids", "attention_mask", "labels")}
    except (TypeError, ValueError, RuntimeError):  # rows of different lengths make no tensor
        return report(exercise, False, "every row is padded to the longest example, so that the rows make one tensor.")
    if any(got[key].shape != expected[key].shape for key in got):
        return report(exercise, False, f"every row is padded to the longest example: a batch of shape "
                                       f"{tuple(expected['input_ids'].shape)} here.")
    real = expected["attention_mask"] == 1
    if not torch.equal(got["input_ids"][real], expected["input_ids"][real]):
        return report(exercise, False, "the token ids moved: keep each example's ids first and pad on the right.")
    if not torch.equal(got["input_ids"], expected["input_ids"]):
        return report(exercise, False, "pad with pad_token_id.")
    if not torch.equal(got["attention_mask"], expected["attention_mask"]):
        return report(exercise, False, "the attention mask is 1 on every real token and 0 on the padding.")
    if torch.equal(got["labels"], expected["labels"]):
        return report(exercise, True, "the same batch as trl's collator: only the answer and its end-of-turn tokens "
                                      "carry the loss.")
    if (got["labels"][~real] != -100).any():
        return report(exercise, False, "the padding carries no loss either: its labels are -100, not the pad id.")
    prompt = real & (expected["labels"] == -100)
    if (got["labels"][prompt] != -100).any():
        return report(exercise, False, "the prompt's labels must be -100: with completion_mask 0, no loss.")
    if ((got["labels"] == -100) & (expected["labels"] == pad_token_id)).any():
        return report(exercise, False, "a real token lost its label because its id equals pad_token_id: mask the "
                                       "padding by position, not by id (here the pad token is also the end of turn).")
    return report(exercise, False, "on the answer, the labels are the token ids themselves (the model shifts them).")


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


def _smallest_within_interval(correct: dict[str, Sequence[bool]], size_mb: dict[str, float], seed: int) -> str:
    """The rule exercise 6.3 asks for: the smallest variant whose accuracy reaches the best one's 95 % lower bound."""
    from course_utils.evaluate import bootstrap_ci

    accuracy = {name: sum(values) / len(values) for name, values in correct.items()}
    best = max(accuracy, key=lambda name: (accuracy[name], -size_mb[name]))
    low, _ = bootstrap_ci(correct[best], seed=seed)
    return min((name for name in correct if accuracy[name] >= low), key=lambda name: (size_mb[name], -accuracy[name]))


def variant_choice(choose: Callable[..., str], correct: dict[str, Sequence[bool]], size_mb: dict[str, float],
                   seed: int = 0, exercise: str = "6.3") -> bool:
    """`choose(correct, size_mb, seed)` must name the smallest variant whose dev accuracy is within the best variant's
    95 % bootstrap interval (ties: the smaller is the best; among equally small ones, the more accurate ships): tried
    on the lesson's dev half and on six made-up sets of variants."""
    def made_up(hits: dict[str, int], n: int = 100) -> dict[str, list[bool]]:
        return {name: [index < count for index in range(n)] for name, count in hits.items()}

    cases = [(correct, size_mb, "the lesson's dev half"),
             (made_up({"big": 90, "small": 86, "tiny": 60}), {"big": 500, "small": 100, "tiny": 10}, "a made-up set"),
             (made_up({"big": 90, "small": 75}), {"big": 500, "small": 100}, "a made-up set"),
             (made_up({"small": 80, "big": 78}), {"small": 100, "big": 500}, "a made-up set"),
             (made_up({"big": 90, "small": 80}), {"big": 500, "small": 100}, "a made-up set"),
             (made_up({"big": 99, "small": 95}), {"big": 500, "small": 100}, "a made-up set"),
             (made_up({"small": 85, "big": 90, "twin": 90}), {"small": 500, "big": 500, "twin": 500}, "a made-up set")]
    for given, sizes, where in cases:
        expected = _smallest_within_interval(given, sizes, seed)
        ok, value = attempt(exercise, choose, {name: list(values) for name, values in given.items()}, dict(sizes), seed)
        if not ok:
            return False
        if value in given and (sizes[value], sum(given[value])) == (sizes[expected], sum(given[expected])):
            continue  # the same size and the same accuracy: an exact tie, either name is right
        if value not in given:
            return report(exercise, False, f"return one of the variants' names ({', '.join(given)}).")
        accuracy = {name: sum(values) / len(values) for name, values in given.items()}
        if accuracy[value] < accuracy[expected] and sizes[value] < sizes[expected]:
            return report(exercise, False, f"on {where}, {value} is smaller but its accuracy lies below the best "
                                           "variant's 95 % interval: it is worse by more than chance.")
        if sizes[expected] < sizes[value]:
            return report(exercise, False, f"on {where}, {expected} is smaller than {value}, and its accuracy lies "
                                           "within the best variant's 95 % interval: the difference may be chance, so "
                                           "the smaller one wins.")
        return report(exercise, False, f"on {where}: find the most accurate variant, its 95 % bootstrap interval "
                                       "(evaluate.bootstrap_ci, with the seed), then the smallest variant at or above "
                                       "its lower end.")
    return report(exercise, True, "the smallest variant that chance cannot tell from the best, on every set tried.")


def _field_accuracy(answers: Sequence[Any], references: Sequence[dict[str, Any]]) -> dict[str, float]:
    """What exercise 6.4 asks for: for each field of the references, the share whose answer holds the same value."""
    held: dict[str, int] = {}
    right: dict[str, int] = {}
    for answer, reference in zip(answers, references):
        for name, value in reference.items():
            held[name] = held.get(name, 0) + 1
            right[name] = right.get(name, 0) + int(isinstance(answer, dict) and name in answer and answer[name] == value)
    return {name: right[name] / held[name] for name in held}


def field_accuracy(measure: Callable[..., dict], answers: Sequence[Any], references: Sequence[dict[str, Any]],
                   exercise: str = "6.4") -> bool:
    """`measure(answers, references)` must give each reference field's share of right values: tried on the lesson's
    parsed answers and on made-up records (keys in another order, a value of the wrong type, an extra field, an answer
    that did not parse)."""
    made_up_references = [{"intent": "set_alarm", "time": "20:00", "day": "tuesday"},
                          {"intent": "send_money", "recipient": "Hugo", "amount": 25, "currency": "GBP"},
                          {"intent": "set_alarm", "time": "07:30", "day": "monday"}]
    made_up_answers = [{"day": "tuesday", "time": "20:00", "intent": "set_alarm"},  # right, keys in another order
                       {"intent": "send_money", "recipient": "Hugo", "amount": "25", "currency": "GBP", "note": "x"},
                       None]  # did not parse
    for given, expected, where in ((answers, references, "this lesson's answers"),
                                   (made_up_answers, made_up_references, "made-up records")):
        ok, value = attempt(exercise, measure, list(given), list(expected))
        if not ok:
            return False
        want = _field_accuracy(given, expected)
        if not isinstance(value, dict) or set(value) != set(want):
            return report(exercise, False, f"on {where}, return one share per field name found in the references: "
                                           f"{', '.join(sorted(want))}.")
        wrong = sorted(name for name in want if not isinstance(value[name], (int, float))
                       or not math.isclose(value[name], want[name], abs_tol=1e-9))
        if not wrong:
            continue
        parsed_only = _field_accuracy([a for a in given if isinstance(a, dict)],
                                      [r for a, r in zip(given, expected) if isinstance(a, dict)])
        if all(isinstance(value[name], (int, float)) and math.isclose(value[name], parsed_only.get(name, -1.0),
                                                                      abs_tol=1e-9) for name in wrong):
            return report(exercise, False, f"on {where}, an answer that did not parse was left out: it still counts, "
                                           "with none of its fields right.")
        return report(exercise, False, f"on {where}, the share for {wrong[0]!r} is off: divide the references whose "
                                       "answer holds the same value under that name (compare the values as they are: "
                                       '25 and "25" differ) by the references that have the field.')
    return report(exercise, True, "each field's share of right values, with unparsed answers counted as wrong.")


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


def end_of_answer(tokenize: Callable[[dict[str, str]], dict[str, list[int]]], tokenizer: Any,
                  rows: Sequence[dict[str, str]], labels: Sequence[str], exercise: str = "7.2") -> bool:
    """`tokenize(row)` must give {"input_ids", "completion_mask"}: the chat template's prompt tokens (mask 0), then the
    label and the token that ends the assistant's turn (mask 1), so that training teaches the model to stop."""
    from course_utils import data

    end = tokenizer.eos_token_id
    for row in rows:
        ok, value = attempt(exercise, tokenize, row)
        if not ok:
            return False
        if not isinstance(value, dict) or not {"input_ids", "completion_mask"} <= set(value):
            return report(exercise, False, 'return a dict with "input_ids" and "completion_mask", as the broken '
                                           'one does.')
        ids, mask = list(value["input_ids"]), list(value["completion_mask"])
        if len(ids) != len(mask):
            return report(exercise, False, "the completion mask needs one entry per token id.")
        prompt = tokenizer.apply_chat_template(data.tone_messages(row, labels)["prompt"], tokenize=False,
                                               add_generation_prompt=True)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if ids[: len(prompt_ids)] != prompt_ids or any(mask[: len(prompt_ids)]):
            return report(exercise, False, "the prompt part was fine: keep the chat template's prompt tokens, with "
                                           "mask 0 (no loss on the prompt).")
        answer, answer_mask = ids[len(prompt_ids):], mask[len(prompt_ids):]
        if end not in answer:
            return report(exercise, False, "the answer still has no end: compare the end of a broken row with the end "
                                           "of the same conversation in the chat template's text.")
        stop = answer.index(end)
        if tokenizer.decode(answer[:stop], skip_special_tokens=True).strip() != row["tone"]:
            return report(exercise, False, "the answer is the row's label, then the end token: as in the broken "
                                           "version, with the end added after the label.")
        if not all(answer_mask[: stop + 1]):
            return report(exercise, False, "the label and its end token must be inside the completion mask (1): the "
                                           "loss must cover the end token, or the model is never taught to produce it.")
    return report(exercise, True, f"every answer ends with {tokenizer.eos_token!r}, inside the loss: the run below can "
                                  "learn to stop.")


# 08 · scale-out -------------------------------------------------------------------------------------------------


def _flat_gradient(model: Any) -> Any:
    import torch

    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                      for p in model.parameters() if p.requires_grad])


def accumulated_gradient(accumulate: Callable[[Any, list[dict[str, Any]]], Any], model: Any, batch: dict[str, Any],
                         sizes: Sequence[int], exercise: str = "8.1") -> bool:
    """`accumulate(model, micro_batches)` must leave in the weights' `.grad` the gradient of the whole batch's loss
    (the mean over all its tokens that carry a label), from backward passes on the micro-batches alone. The check cuts
    `batch` into micro-batches of `sizes` rows (uneven on purpose, so their token counts differ) and compares."""
    if sum(sizes) != len(batch["input_ids"]):
        raise ValueError(f"sizes {list(sizes)} must add up to the batch's {len(batch['input_ids'])} rows")
    model.zero_grad(set_to_none=True)
    model(**batch).loss.backward()
    expected = _flat_gradient(model)
    starts = [sum(sizes[:index]) for index in range(len(sizes))]
    micro_batches = [{key: value[start:start + size] for key, value in batch.items()}
                     for start, size in zip(starts, sizes)]
    mean_of_means, unshifted = 0, 0
    unshifted_total = sum(int((micro["labels"] != -100).sum()) for micro in micro_batches)
    for micro in micro_batches:  # two common mistakes, for the feedback
        model.zero_grad(set_to_none=True)
        (model(**micro).loss / len(micro_batches)).backward()  # each micro-batch's own mean, divided by k
        mean_of_means = mean_of_means + _flat_gradient(model)
        model.zero_grad(set_to_none=True)  # each micro-batch weighed by its labels counted without the shift
        (model(**micro).loss * int((micro["labels"] != -100).sum()) / unshifted_total).backward()
        unshifted = unshifted + _flat_gradient(model)
    model.zero_grad(set_to_none=True)
    rows_seen: list[int] = []  # the rows of every forward pass the learner's code runs
    hook = model.register_forward_pre_hook(
        lambda module, args, kwargs: rows_seen.append(len(kwargs.get("input_ids", args[0] if args else []))),
        with_kwargs=True)
    try:
        ok, _ = attempt(exercise, accumulate, model, [dict(micro) for micro in micro_batches])
    finally:
        hook.remove()
    if not ok:
        return False
    if any(rows > max(sizes) for rows in rows_seen):
        return report(exercise, False, "run each micro-batch through the model on its own: putting them back "
                                       "together into one forward pass gives up the memory that accumulation saves.")
    got = _flat_gradient(model)
    scale = expected.abs().max().item()
    if not got.abs().max().item():
        return report(exercise, False, "the weights hold no gradient: call backward() on each micro-batch's loss, "
                                       "and do not clear the gradients in between.")
    if (got - expected).abs().max().item() <= 1e-5 * scale:
        return report(exercise, True, f"{len(micro_batches)} micro-batches of {list(sizes)} rows give the whole "
                                      "batch's gradient: this is what gradient_accumulation_steps does.")
    if (got - mean_of_means).abs().max().item() <= 1e-5 * scale:
        return report(exercise, False, "dividing each micro-batch's mean loss by the number of micro-batches weighs "
                                       "every micro-batch alike, but they hold different numbers of tokens: weigh "
                                       "each by its share of all the tokens that carry a label (the shifted labels "
                                       "that are not -100), or call model(**micro, num_items_in_batch=N) with N the "
                                       "count over all the micro-batches.")
    if (got - unshifted).abs().max().item() <= 1e-5 * scale:
        return report(exercise, False, "close: the count is a little too large. A row's first label is never a "
                                       "target (the model shifts labels by one), so count labels[:, 1:].")
    ratio = (got.norm() / expected.norm()).item()
    if abs(ratio - len(micro_batches)) < 0.2 * len(micro_batches):
        return report(exercise, False, f"the gradient is about {ratio:.1f} times too large: each micro-batch's loss is "
                                       "already a mean, so the sum of k of them counts the batch k times.")
    return report(exercise, False, f"the gradient is off (its size is {ratio:.3f} times the whole batch's): count the "
                                   "tokens that carry a label in all the micro-batches first, and divide each "
                                   "micro-batch's summed loss by that count.")


def loss_scaler(step: Callable[[Any, float], tuple[Any, float]], gradients: Any, exercise: str = "8.2") -> bool:
    """`step(gradients, scale)` must give (the gradients the optimizer gets, or None when the step is skipped; the next
    scale), for an fp16 backward pass: the float32 `gradients` times `scale`, rounded to fp16. The reference is
    torch.amp.GradScaler's own two operations, at 65,536, at the last scale that overflows, at the largest that does
    not, and on a nan gradient."""
    import torch

    def reference(scale: float) -> tuple[Any, float]:
        values = (gradients * scale).half().float()
        found_inf = torch.zeros(())
        torch._amp_foreach_non_finite_check_and_unscale_([values], found_inf, torch.full((), 1 / scale))
        next_scale = torch.full((), float(scale))
        torch._amp_update_scale_(next_scale, torch.zeros((), dtype=torch.int32), found_inf, 2.0, 0.5, 2000)
        return (None if found_inf.item() else values), next_scale.item()

    fits = 2.0**16
    while reference(fits)[0] is None and fits > 1:
        fits /= 2
    for scale in sorted({2.0**16, 2 * fits} - {fits}, reverse=True) + [fits]:  # the overflow first, then the fit
        expected, expected_scale = reference(scale)
        ok, value = attempt(exercise, step, gradients.clone(), scale)
        if not ok:
            return False
        if not isinstance(value, tuple) or len(value) != 2:
            return report(exercise, False, "return a pair: (the gradients, or None for a skipped step; the next "
                                           "scale).")
        got, next_scale = value
        if expected is None:
            if got is not None:
                return report(exercise, False, f"at a scale of {scale:,.0f} some scaled gradients overflow fp16: "
                                               "rounded to fp16 (.half()), as an fp16 backward pass holds them, they "
                                               "become inf. The step must be skipped, so return None.")
            if next_scale != expected_scale:
                return report(exercise, False, f"after a skipped step the scale is halved: {scale:,.0f} becomes "
                                               f"{expected_scale:,.0f} (got {next_scale}).")
            continue
        if got is None:
            return report(exercise, False, f"at a scale of {scale:,.0f} every scaled gradient fits in fp16: "
                                           "the step goes through.")
        if next_scale != expected_scale:
            return report(exercise, False, "a step that goes through keeps its scale (GradScaler doubles it only after "
                                           "2,000 good steps in a row, which this exercise leaves out).")
        got = torch.as_tensor(got, dtype=torch.float32)
        if got.shape != expected.shape:
            return report(exercise, False, f"return one gradient per input value (shape {tuple(expected.shape)}).")
        if torch.equal(got, expected):
            continue
        if torch.allclose(got, expected * scale, rtol=1e-6, atol=0):
            return report(exercise, False, "divide the gradients by the scale before the optimizer uses them.")
        if torch.allclose(got, gradients, rtol=1e-6, atol=0):
            return report(exercise, False, "round the scaled gradients to fp16 (.half()) as an fp16 backward pass "
                                           "does: that is where small values are lost and large ones overflow.")
        return report(exercise, False, "the gradients differ from GradScaler's: scale, round to fp16, then unscale "
                                       "in float32.")
    poisoned = gradients.clone()
    poisoned[0] = float("nan")  # a nan gradient (a bad batch, a 0/0): no scale makes it finite
    ok, value = attempt(exercise, step, poisoned, fits)
    if not ok:
        return False
    if not isinstance(value, tuple) or len(value) != 2 or value[0] is not None or value[1] != fits / 2:
        return report(exercise, False, "a nan gradient must skip the step too, and halve the scale: test for "
                                       "anything not finite, not only for inf.")
    skipped = f"skips and halves from {2.0**16:,.0f} down, and " if fits < 2.0**16 else ""
    return report(exercise, True, f"it {skipped}lets the step through at {fits:,.0f}, as torch.amp.GradScaler does.")


# 09 · preference tuning --------------------------------------------------------------------------------------------


def dpo_loss(pair_loss: Callable[..., float], pairs: Sequence[tuple[float, float, float, float]], beta: float,
             trl_loss: float, exercise: str = "9.1") -> bool:
    """`pair_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta)` for each pair, averaged
    over `pairs` (summed log-probabilities of each answer, from section 5), must give trl's loss of that batch."""
    values = []
    for pair in pairs:
        ok, value = attempt(exercise, pair_loss, *pair, beta)
        if not ok:
            return False
        value = float(value)  # a 0-d tensor or a float
        if not math.isfinite(value):
            return report(exercise, False, f"the loss came out {value}: use log(sigmoid(x)) in a form that cannot "
                                           "overflow, such as torch.nn.functional.logsigmoid or -log1p(exp(-x))")
        values.append(value)
    mean = sum(values) / len(values)
    if abs(mean - trl_loss) > 1e-5:
        tied = sum(abs(v - math.log(2)) < 1e-6 for v in values)
        hint = (" Every pair came out at ln 2: the margin is zero, so check that the reference terms are subtracted "
                "from the policy's, not the policy's from themselves." if tied == len(values) else
                " The margin is beta x ((policy chosen - reference chosen) - (policy rejected - reference rejected)); "
                "the loss is -log sigmoid(margin).")
        return report(exercise, False, f"the mean over the batch is {mean:.6f}, trl's is {trl_loss:.6f}.{hint}")
    return report(exercise, True, f"the mean over the {len(values)} pairs is trl's loss, {trl_loss:.6f}, to 1e-5.")


def _pairs_from_mistakes(rows: Sequence[dict[str, str]], answers: Sequence[str], labels: Sequence[str]) -> list[dict]:
    """The reference for exercise 9.2: a pair for each answer that does not start with the row's label."""
    from course_utils.evaluate import parse_label

    return [{"phrase": row["phrase"], "chosen": row["tone"], "rejected": answer}
            for row, answer in zip(rows, answers) if parse_label(answer, labels) != row["tone"] and answer.strip()]


def preference_pairs(make_pairs: Callable[..., list], rows: Sequence[dict[str, str]], answers: Sequence[str],
                     labels: Sequence[str], exercise: str = "9.2") -> bool:
    """`make_pairs(rows, answers, labels)` must turn a model's wrong answers into preference pairs."""
    ok, value = attempt(exercise, make_pairs, list(rows), list(answers), list(labels))
    if not ok:
        return False
    expected = _pairs_from_mistakes(rows, answers, labels)
    if not isinstance(value, list) or not all(isinstance(pair, dict) for pair in value):
        return report(exercise, False, f"return a list of dicts, one per pair (got {type(value).__name__})")
    keys = {"phrase", "chosen", "rejected"}
    if any(not keys <= set(pair) for pair in value):
        return report(exercise, False, 'each pair needs "phrase", "chosen" and "rejected"')
    got = [{key: pair[key] for key in keys} for pair in value]
    if got == expected:
        return report(exercise, True, f"{len(expected)} of the {len(rows)} answers were wrong and became pairs.")
    wrong = {pair["phrase"] for pair in expected}
    if any(pair["phrase"] not in wrong and str(pair["rejected"]).strip() for pair in got):
        return report(exercise, False, "a pair was made from an answer that was right: keep only the answers whose "
                                       "label (evaluate.parse_label) is not the row's tone")
    if any(pair["chosen"] == pair["rejected"] for pair in got):
        return report(exercise, False, "a pair's chosen and rejected answers are the same")
    if any(not str(pair["rejected"]).strip() for pair in got):
        return report(exercise, False, "an empty answer teaches nothing as the rejected one: leave it out")
    return report(exercise, False, f"{len(got)} pairs, where {len(expected)} were expected: one for every wrong, "
                                   "non-empty answer, in the rows' order, with the row's tone as the chosen answer")



def _gguf_bits_per_weight(reader: Any) -> float:
    """The reference for exercise 10.1: 8 x the bytes of every tensor / the number of values they hold."""
    return 8 * sum(int(tensor.n_bytes) for tensor in reader.tensors) / sum(int(tensor.n_elements) for tensor in reader.tensors)


def gguf_bits_per_weight(measure: Callable[[Any], float], readers: dict[str, Any], exercise: str = "10.1") -> bool:
    """`measure(reader)` must give each GGUF file's bits per weight from its tensor table (gguf-py's GGUFReader)."""
    for name, reader in readers.items():
        ok, value = attempt(exercise, measure, reader)
        if not ok:
            return False
        try:
            value = float(value)
        except (TypeError, ValueError):
            return report(exercise, False, f"return a number (got {type(value).__name__})")
        expected = _gguf_bits_per_weight(reader)
        if abs(value - expected) > 1e-6 * expected:
            if abs(value - expected / 8) < 1e-6 * expected:
                hint = "that is bytes per weight: a byte is 8 bits"
            elif value > 2 * expected:
                hint = ("count the values each tensor holds (its n_elements), not its rows, and its bytes (n_bytes), "
                        "not the file's size, which adds the metadata")
            else:
                hint = "divide the bits of all the tensors (8 x the sum of n_bytes) by all their values (sum of n_elements)"
            return report(exercise, False, f"for the {name} file you got {value:.4f}: {hint}")
    return report(exercise, True, f"the bits per weight of the {' and the '.join(readers)} file{'s' if len(readers) > 1 else ''}.")


def _turn_stops(tokenizer: Any) -> list[str]:
    """The reference for exercise 10.2: the special tokens the chat template writes right after an assistant's answer."""
    marker = "\x00ANSWER\x00"
    text = tokenizer.apply_chat_template([{"role": "user", "content": "q"}, {"role": "assistant", "content": marker}],
                                         tokenize=False)
    after = text.split(marker, 1)[1]
    special = sorted(set(tokenizer.all_special_tokens) | set(tokenizer.get_added_vocab()), key=len, reverse=True)
    stops = []
    while True:
        after = after.lstrip()
        found = next((token for token in special if after.startswith(token)), None)
        if found is None:
            return stops
        stops.append(found)
        after = after[len(found):]


def turn_stops(stops_of: Callable[[Any], list], tokenizer: Any, exercise: str = "10.2") -> bool:
    """`stops_of(tokenizer)` must list the special tokens that end an assistant's turn in the chat template."""
    ok, value = attempt(exercise, stops_of, tokenizer)
    if not ok:
        return False
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        return report(exercise, False, f"return a list of strings, the tokens as text (got {type(value).__name__})")
    expected = _turn_stops(tokenizer)
    if list(value) == expected:
        return report(exercise, True, f"{len(expected)} stop token(s), the one(s) the template ends an answer with.")
    vocabulary = set(tokenizer.all_special_tokens) | set(tokenizer.get_added_vocab())
    strays = [v for v in value if v not in vocabulary]
    if strays:
        return report(exercise, False, f"{strays} is not one of the tokenizer's special tokens: a stop must be a token "
                                       "the model can emit whole, such as the ones in tokenizer.all_special_tokens")
    if not value:
        return report(exercise, False, "the list is empty: without a stop, the model runs on after its answer")
    extra = [token for token in value if token not in expected]
    if all(token in value for token in expected) and extra:
        return report(exercise, False, f"only the tokens the template writes right after the answer: {extra} "
                                       "is not written there (a model may emit it, but the template never does)")
    return report(exercise, False, "render a conversation that ends with an assistant message through "
                                   "tokenizer.apply_chat_template(..., tokenize=False) and look at what follows the "
                                   "answer: the special token(s) there are the stops")
