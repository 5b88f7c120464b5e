"""One palette for the verdict categories, used by the scorecard figure and the HTML report
alike (so a category has one colour wherever it is shown)."""

from __future__ import annotations

# Okabe-Ito (colour-blind-safe) colours per verdict category.
CATEGORY_COLOURS: dict[str, str] = {
    "reproduced": "#009E73",  # bluish green
    "not reproduced": "#D55E00",  # vermillion
    "inconsistent within the paper": "#CC79A7",  # reddish purple
    "setup-dependent": "#E69F00",  # orange
    "not measured": "#999999",  # grey
}


def tint(colour: str, share: float = 0.25) -> str:
    """The colour mixed with white (share of the colour kept): a table cell's background
    light enough for black text, in the category's own hue."""
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(255 - share * (255 - c)) for c in rgb]
    return "#" + "".join(f"{c:02x}" for c in mixed)


def css_class(category: str) -> str:
    """The HTML class of a cell showing this category."""
    return category.replace(" ", "-")
