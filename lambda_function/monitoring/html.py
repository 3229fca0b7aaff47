"""A report a person reads: one self-contained HTML page (inline SVG, no script, no network),
drawn from a report's JSON. Plots: the score's distribution against the training reference and
calibration by decile against the diagonal; a table of the metrics beside training's, with what
is flagged."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

WIDTH, HEIGHT, MARGIN = 560, 260, 40
BLUE, ORANGE, GREY = "#1f77b4", "#ff7f0e", "#999999"


def _frame(title: str, body: str, height: int = HEIGHT) -> str:
    return (
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}"><rect width="100%" height="100%" fill="white" stroke="{GREY}"/>'
        f"{body}</svg></figure>"
    )


def _x(share: float) -> float:
    return MARGIN + share * (WIDTH - 2 * MARGIN)


def _y(share: float) -> float:
    return HEIGHT - MARGIN - share * (HEIGHT - 2 * MARGIN)


def paired_bars(title: str, labels: Sequence[str], series: dict[str, Sequence[float]]) -> str:
    """Shares per bin, side by side for each series (e.g. this window against the reference)."""
    colours, top = [BLUE, ORANGE], max((max(values, default=0.0) for values in series.values()), default=0.0) or 1.0
    slot = (WIDTH - 2 * MARGIN) / max(len(labels), 1)
    bars, legend = [], []
    for k, (name, values) in enumerate(series.items()):
        for i, value in enumerate(values):
            left, height = MARGIN + i * slot + k * slot / 2.2, (value / top) * (HEIGHT - 2 * MARGIN)
            bars.append(
                f'<rect x="{left:.1f}" y="{_y(0) - height:.1f}" width="{slot / 2.4:.1f}" height="{height:.1f}" '
                f'fill="{colours[k % 2]}"><title>{html.escape(name)} {html.escape(labels[i])}: {value:.4f}'
                "</title></rect>"
            )
        legend.append(f'<text x="{MARGIN + 150 * k}" y="20" fill="{colours[k % 2]}">■ {html.escape(name)}</text>')
    return _frame(title, "".join(bars + legend) + _axes())


def bars(
    title: str,
    items: Sequence[tuple[str, float]],
    threshold: float | None = None,
    beside: dict[str, float] | None = None,
) -> str:
    """One horizontal bar per item, largest first; a dashed line at `threshold`; a thin grey
    bar under each for `beside` (training's value)."""
    top = max([value for _, value in items] + [threshold or 0.0] + list((beside or {}).values()) + [1e-9])
    row, width = 16, WIDTH - 3 * MARGIN - 60
    height = MARGIN + row * max(len(items), 1)
    body = []
    for k, (name, value) in enumerate(items):
        y = 20 + k * row
        body.append(f'<text x="4" y="{y + 11}" font-size="11">{html.escape(name)}</text>')
        body.append(
            f'<rect x="80" y="{y}" width="{value / top * width:.1f}" height="{row - 6}" fill="{BLUE}">'
            f"<title>{html.escape(name)}: {value:.4f}</title></rect>"
        )
        if beside and name in beside:
            body.append(
                f'<rect x="80" y="{y + row - 6}" width="{beside[name] / top * width:.1f}" height="3" fill="{GREY}"/>'
            )
    if threshold is not None:
        x = 80 + threshold / top * width
        body.append(
            f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{height - 10}" stroke="{ORANGE}" stroke-dasharray="4"/>'
        )
    return _frame(title, "".join(body), height)


def calibration_plot(title: str, points: Sequence[dict[str, Any]]) -> str:
    """Mean score against the share that defaulted, per decile; the diagonal is perfect calibration."""
    diagonal = f'<line x1="{_x(0)}" y1="{_y(0)}" x2="{_x(1)}" y2="{_y(1)}" stroke="{GREY}" stroke-dasharray="4"/>'
    dots = "".join(
        f'<circle cx="{_x(p["mean_score"]):.1f}" cy="{_y(p["default_rate"]):.1f}" r="5" fill="{BLUE}">'
        f"<title>mean score {p['mean_score']:.3f}, defaulted {p['default_rate']:.3f} ({p['customers']})"
        "</title></circle>"
        for p in points
    )
    return _frame(title, diagonal + dots + _axes())


def _axes() -> str:
    return (
        f'<line x1="{MARGIN}" y1="{_y(0)}" x2="{WIDTH - MARGIN}" y2="{_y(0)}" stroke="black"/>'
        f'<line x1="{MARGIN}" y1="{_y(0)}" x2="{MARGIN}" y2="{MARGIN}" stroke="black"/>'
    )


def metrics_table(metrics: dict[str, Any], training: dict[str, Any], flagged: Sequence[str]) -> str:
    rows = "".join(
        f"<tr{' class=flagged' if name in flagged else ''}><td>{html.escape(name)}</td><td>{value:.4f}</td>"
        f"<td>{training[name]:.4f}</td></tr>"
        if name in training
        else f"<tr><td>{html.escape(name)}</td><td>{value:.4f}</td><td></td></tr>"
        for name, value in metrics.items()
        if isinstance(value, float)
    )
    return f"<table><tr><th>metric</th><th>now</th><th>training</th></tr>{rows}</table>"


def page(title: str, summary: str, sections: Sequence[str]) -> str:
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:1200px}figure{display:inline-block;margin:1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}.flagged{background:#fdd}"
    )
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1><p>{html.escape(summary)}</p>"
        + "".join(sections)
        + "</body></html>"
    )
