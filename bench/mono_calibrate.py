"""Where the mono checker's thresholds come from (imageworks/mono/thresholds.py): pictures made to pass (neutral and
toned scenes and scikit-image photos at JPEG q60, film and colour grain, vignettes, near-black, blown highlights,
borders that carry the tone) and pictures made to fail (the four colour works the original passed, spots in toned
prints, split tones, coloured and neutral borders), checked from real files; for each, the verdict and the numbers
the thresholds act on, then the margins: the worst clean value against the best coloured one.

    python bench/mono_calibrate.py [--samples camera,moon,coins]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imageworks.mono import thresholds as T  # noqa: E402
from imageworks.mono.check import check_file  # noqa: E402
from tests import mono_images as M  # noqa: E402

Case = tuple[str, Callable[[], np.ndarray], str, dict]
"""name, maker, the verdicts it must get (``pass``: neutral or toned; or one verdict), save options."""


def cases(grey: np.ndarray, label: str) -> list[Case]:
    q60 = {"quality": 60}
    half = grey.shape[1] // 2
    sepia_mid = tuple(M.toned(np.full((1, 1), 0.5, dtype=np.float32))[0, 0])
    return [
        (f"{label} neutral q60", lambda: M.neutral(grey), "neutral_mono", q60),
        (f"{label} film grain q60", lambda: M.grain(M.neutral(grey), 0.05), "neutral_mono", q60),
        (f"{label} colour grain png", lambda: M.grain(M.neutral(grey), 0.02, 0.03), "neutral_mono", {"png": True}),
        (f"{label} vignette q60", lambda: M.vignette(M.neutral(grey), 0.7), "neutral_mono", q60),
        (f"{label} near-black q60", lambda: M.neutral(grey * 0.08), "neutral_mono", q60),
        (f"{label} blown q60", lambda: M.neutral(np.clip(grey * 1.8, 0, 1)), "neutral_mono", q60),
        (f"{label} sepia q60", lambda: M.toned(grey), "toned_mono", q60),
        (f"{label} colorize q60", lambda: M.colorized(grey), "toned_mono", q60),
        (f"{label} cyanotype q60", lambda: M.toned(grey, 285, 10), "toned_mono", q60),
        (f"{label} sepia+vignette q60", lambda: M.vignette(M.toned(grey), 0.6), "toned_mono", q60),
        (f"{label} sepia border", lambda: M.bordered(M.toned(grey), 30, sepia_mid), "toned_mono", {}),
        (f"{label} white border", lambda: M.bordered(M.toned(grey), 30), "toned_mono", {}),
        (f"{label} spot 0.17%", lambda: M.spot(M.neutral(grey), 0.0017, centre=(0.8, 0.7)), "not_mono", {}),
        (f"{label} spot 1.5%", lambda: M.spot(M.neutral(grey), 0.015, centre=(0.5, 0.2)), "not_mono", {}),
        (
            f"{label} half sepia",
            lambda: np.concatenate([M.toned(grey)[:, :half], M.neutral(grey)[:, half:]], axis=1),
            "not_mono",
            {},
        ),
        (f"{label} 17% panel", lambda: M.panel(grey, (0.1, 0.1, 0.47, 0.55)), "not_mono", {}),
        (f"{label} sepia+blue spot", lambda: M.spot(M.toned(grey), 0.003, M.BLUE, centre=(0.2, 0.5)), "not_mono", {}),
        (f"{label} split tone", lambda: M.split_toned(grey), "not_mono", {}),
        (f"{label} red border", lambda: M.bordered(M.neutral(grey), 30, (0.6, 0.2, 0.2)), "not_mono", {}),
        (f"{label} faint cast", lambda: M.toned(grey, 70, 2.6), "query", q60),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", default="camera,moon,coins,brick,grass,clock")
    args = parser.parse_args()
    pictures = [("scene", M.scene())] + [(name, M.sample(name)) for name in args.samples.split(",") if name]
    folder = Path(tempfile.mkdtemp(prefix="iw-mono-cal-"))
    wrong = 0
    clean_residual: list[float] = []
    clean_region: list[float] = []
    coloured_residual: list[float] = []
    print(f"{'case':28} {'want':12} {'got':12} {'res p99':>8} {'region%':>8} {'reg res':>8} {'tone C':>7} reasons")
    for label, grey in pictures:
        for i, (name, make, want, save) in enumerate(cases(grey, label)):
            png = save.pop("png", False)
            path = M.save(make(), folder / f"{label}-{i}.{'png' if png else 'jpg'}", **save)
            analysis = check_file(path).analysis
            n = analysis.numbers
            top = analysis.regions[0].residual if analysis.regions else 0.0
            ok = analysis.verdict == want
            wrong += not ok
            if want in ("neutral_mono", "toned_mono"):
                clean_residual.append(n.residual_p99)
                clean_region.append(n.largest_region_pct)
            elif want == "not_mono" and analysis.regions:
                coloured_residual.append(top)
            mark = "" if ok else "  <-- WRONG"
            print(
                f"{name:28} {want:12} {analysis.verdict:12} {n.residual_p99:8.2f} {n.largest_region_pct:8.3f} "
                f"{top:8.2f} {n.tone_chroma:7.2f} {','.join(analysis.reasons)}{mark}"
            )
    print(
        f"\nclean pictures: residual p99 at most {max(clean_residual):.2f} (RESIDUAL_OFF {T.RESIDUAL_OFF}), largest "
        f"off-curve region {max(clean_region):.3f} % (FAIL_REGION_SHARE {100 * T.FAIL_REGION_SHARE:g} %)"
    )
    print(
        f"colour works: the weakest failing region's mean residual {min(coloured_residual):.2f} (RESIDUAL_FAIL "
        f"{T.RESIDUAL_FAIL})"
    )
    print(f"wrong verdicts: {wrong}")


if __name__ == "__main__":
    main()
