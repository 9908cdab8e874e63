"""The few matplotlib figures the lessons share."""

from __future__ import annotations

from typing import Any, Sequence


def length_histogram(lengths_by_split: dict[str, Sequence[int]], title: str = "Tokens per example") -> Any:
    """Overlaid histograms of token counts, one per split, with each split's maximum marked."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 3.5))
    upper = max(max(lengths) for lengths in lengths_by_split.values())
    bins = range(0, upper + 2)
    for name, lengths in lengths_by_split.items():
        axis.hist(lengths, bins=bins, alpha=0.6, label=f"{name} (max {max(lengths)})")
    axis.set_xlabel("tokens (chat template included)")
    axis.set_ylabel("examples")
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    return figure


def bar_chart(values: dict[str, float], ylabel: str, title: str, reference: float | None = None,
              intervals: dict[str, tuple[float, float]] | None = None, reference_label: str | None = None) -> Any:
    """Bars for named values, with an optional dashed reference line (for example chance level) and error bars.

    `intervals` maps some of the names to (low, high), drawn as an error bar on that bar (a bootstrap interval);
    `reference_label` names the line in the legend (default: "reference" and its value).
    """
    import matplotlib.pyplot as plt

    rotate = max(len(name) for name in values) > 12
    figure, axis = plt.subplots(figsize=(max(6, 1.1 * len(values)), 4.5 if rotate else 3.5))
    axis.bar(list(values), list(values.values()), color="tab:blue")
    for name, (low, high) in (intervals or {}).items():
        value = values[name]
        axis.errorbar([name], [value], yerr=[[value - low], [high - value]], color="black", capsize=4)
    if rotate:
        axis.tick_params(axis="x", labelrotation=30)
        plt.setp(axis.get_xticklabels(), ha="right")
    if reference is not None:
        axis.axhline(reference, linestyle="--", color="gray", label=reference_label or f"reference {reference:.2f}")
        axis.legend()
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    figure.tight_layout()
    return figure
