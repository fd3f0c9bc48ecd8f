"""The deliveries chart: stacked bars per day and state, as inline SVG (no script, no CDN)."""

from __future__ import annotations

from html import escape

from markupsafe import Markup

from syndicate.db.models import DeliveryState
from syndicate.web.overview import DailyCounts

__all__ = ["STATE_COLOURS", "delivery_chart"]

STATE_COLOURS = {
    DeliveryState.SENT: "#15803d",
    DeliveryState.QUEUED: "#2563eb",
    DeliveryState.CLAIMED: "#60a5fa",
    DeliveryState.SENDING: "#7c3aed",
    DeliveryState.SKIPPED: "#9ca3af",
    DeliveryState.UNKNOWN: "#d97706",
    DeliveryState.FAILED: "#dc2626",
}
_WIDTH, _HEIGHT, _LEFT, _BOTTOM, _TOP = 640, 220, 44, 28, 12


def delivery_chart(days: DailyCounts) -> Markup:
    """An accessible SVG: each bar has a <title> with the day's numbers."""
    peak = max((sum(counts.values()) for _, counts in days), default=0) or 1
    plot_height = _HEIGHT - _BOTTOM - _TOP
    slot = (_WIDTH - _LEFT) / max(len(days), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        'role="img" aria-labelledby="chart-title" class="chart">',
        '<title id="chart-title">Deliveries per day, by state</title>',
        f'<line x1="{_LEFT}" y1="{_TOP + plot_height}" x2="{_WIDTH}" '
        f'y2="{_TOP + plot_height}" stroke="#6b7280"/>',
        f'<text x="{_LEFT - 6}" y="{_TOP + 10}" text-anchor="end" font-size="11">{peak}</text>',
        f'<text x="{_LEFT - 6}" y="{_TOP + plot_height}" text-anchor="end" font-size="11">0</text>',
    ]
    for index, (day, counts) in enumerate(days):
        x = _LEFT + index * slot + slot * 0.15
        width = slot * 0.7
        y: float = _TOP + plot_height
        summary = ", ".join(f"{state} {n}" for state, n in sorted(counts.items()) if n)
        parts.append(f"<g><title>{escape(day.isoformat())}: {escape(summary or 'none')}</title>")
        for state, colour in STATE_COLOURS.items():
            count = counts.get(state, 0)
            if not count:
                continue
            height = plot_height * count / peak
            y -= height
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
                f'fill="{colour}"/>'
            )
        parts.append("</g>")
        if index % 2 == 0 or len(days) <= 7:
            parts.append(
                f'<text x="{x + width / 2:.1f}" y="{_HEIGHT - 10}" text-anchor="middle" '
                f'font-size="10">{day.strftime("%d %b")}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
