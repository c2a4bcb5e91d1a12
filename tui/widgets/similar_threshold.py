"""The Similar mode's threshold control: the value on a 0.5..1 bar, the searched floor marked; the screen's keys
move it and every move re-groups at once."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

BAR_CELLS = 25


def threshold_text(
    threshold: float, floor: float | None, step: float = 0.01, hash_bits: int = 0, low: float = 0.5, high: float = 1.0
) -> Text:
    """``threshold 0.859 ━━━━━━━━━━━━━━━━━━━━━╸─── `` with the searched floor as ``┃`` (re-grouping is instant at or
    above it) and what one key moves it by (``hash_bits``: one hash bit, ``step 1/64``)."""

    def cell(value: float) -> int:
        return round((value - low) / (high - low) * (BAR_CELLS - 1))

    at, floor_at = cell(threshold), (cell(floor) if floor is not None else -1)
    text = Text("threshold ", style="dim")
    text.append(f"{threshold:.{3 if hash_bits else 2}f} ", style="bold")
    for i in range(BAR_CELLS):
        if i == floor_at and i != at:
            text.append("┃", style="yellow")
        elif i < at:
            text.append("━", style="bold")
        elif i == at:
            text.append("╸" if i else "━", style="bold")
        else:
            text.append("─", style="dim")
    below = floor is not None and threshold < floor - 1e-9
    if floor is not None:
        text.append(f" searched ≥ {floor:.2f}", style="yellow" if below else "dim")
    text.append(f"  step {f'1/{hash_bits} (one hash bit)' if hash_bits else f'{step:.2f}'}", style="dim")
    return text


class ThresholdBar(Static):
    def show(self, threshold: float, floor: float | None, step: float = 0.01, hash_bits: int = 0) -> None:
        self.update(threshold_text(threshold, floor, step, hash_bits))
