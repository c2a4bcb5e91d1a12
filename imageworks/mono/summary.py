"""The one-line human summary of a mono check (what the CLI prints per photo and the TUI lists)."""

from __future__ import annotations

from imageworks.mono.result import Analysis, Region

REASON_WORDS = {
    "spot_colour": "spot colour",
    "partial_toning": "partial toning",
    "split_tone": "split toning",
    "multi_colour": "several colours",
    "colour_cast": "a faint colour cast",
    "border_tone": "the border's tone differs",
}
VERDICT_WORDS = {
    "neutral_mono": "neutral monochrome",
    "toned_mono": "toned monochrome",
    "query": "query",
    "not_mono": "not monochrome",
}


def region_phrase(region: Region) -> str:
    """``a strong red patch top left (0.17 % of the frame)``; an untoned patch in a toned picture says so."""
    what = "untoned patch" if region.colour == "neutral" else f"{region.colour} patch"
    return f"a {region.strength} {what} {region.location} ({region.area_pct:g} % of the frame)"


def summary_line(analysis: Analysis) -> str:
    head = VERDICT_WORDS[analysis.verdict]
    tone = analysis.tone
    if analysis.verdict == "neutral_mono":
        return f"{head} (C* p99 {analysis.numbers.chroma_p99:g})"
    if analysis.verdict == "toned_mono" and tone is not None:
        return f"{head}: {tone.name} ({tone.colour}, hue {tone.hue:.0f}°, C* {tone.chroma:g})"
    parts = [REASON_WORDS.get(reason, reason) for reason in analysis.reasons]
    line = f"{head}: {', '.join(parts)}"
    if analysis.regions:
        line += f" — {region_phrase(analysis.regions[0])}"
        more = len(analysis.regions) - 1
        if more:
            line += f" and {more} more"
    elif tone is not None and "split_tone" in analysis.reasons:
        line += f" (tone hue spread {analysis.numbers.hue_spread:g}°"
        if analysis.numbers.shadow_highlight_hue is not None:
            line += f", shadows vs highlights {analysis.numbers.shadow_highlight_hue:.0f}°"
        line += ")"
    elif tone is not None and "colour_cast" in analysis.reasons:
        line += f" ({tone.colour}, C* {tone.chroma:g})"
    return line
