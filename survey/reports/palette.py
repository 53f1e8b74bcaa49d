"""Heat map colours, shared by every output so a band looks the same in HTML, PDF, xlsx and PNG.

Colour is never the only signal: every cell also carries the band's words, and the PNG adds a
hatching pattern per band so it stays readable printed in greyscale.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Swatch:
    fill: str  # "#rrggbb"
    text: str  # text colour readable on `fill`
    hatch: str  # matplotlib hatch pattern (PNG only)


# Weak to strong, for a four-level scale; other scale lengths are mapped onto these steps.
BANDS: tuple[Swatch, ...] = (
    Swatch("#a61b1b", "#ffffff", "xxx"),
    Swatch("#e8853d", "#000000", "///"),
    Swatch("#d8e27a", "#000000", "..."),
    Swatch("#6cbf6c", "#000000", ""),
)
HIDDEN = Swatch("#e0e0e0", "#333333", "")
NO_RATINGS = Swatch("#ffffff", "#333333", "")


def swatch_for(score: int, levels: int) -> Swatch:
    """The swatch for a level's score (1..levels), spread over the four steps."""
    if levels <= 1:
        return BANDS[-1]
    step = round((score - 1) * (len(BANDS) - 1) / (levels - 1))
    return BANDS[min(max(step, 0), len(BANDS) - 1)]


def css(swatch: Swatch, *, text: bool = True) -> str:
    """The swatch as an inline style for HTML and PDF cells (its text colour too, unless
    `text` is False: a key's plain colour square)."""
    return f"background:{swatch.fill};color:{swatch.text}" if text else f"background:{swatch.fill}"
