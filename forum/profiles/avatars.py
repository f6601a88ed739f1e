"""Every member's avatar, drawn from the username alone: the initials on a coloured disc, as SVG.

No outside service and nothing stored: the same name always gives the same picture, so it can
be cached for good. The colour comes from a hash of the name (not Python's `hash`, which
changes between processes). Its lightness is set so that the white initials have a contrast
of at least 4.5:1 on it, and the disc at least 3:1 against the page in the light and the dark
theme (static/forum.css): WCAG 2's ratios for text and for graphics.
"""

from __future__ import annotations

import colorsys
import hashlib
import re
from html import escape

#: The initials' colour.
TEXT = "#ffffff"
#: The disc's relative luminance: white on it is 1.05 / (0.16 + 0.05) = 5:1, and it stands at
#: 3.3:1 or more against the dark theme's surfaces and 4.7:1 against the light theme's.
DISC_LUMINANCE = 0.16
#: Where a name splits into words for its initials: ann_lee, ann-lee, AnnLee.
_WORDS = re.compile(r"[_-]+|(?<=[a-z0-9])(?=[A-Z])")


def relative_luminance(red: float, green: float, blue: float) -> float:
    """WCAG 2's relative luminance of an sRGB colour, channels from 0 to 1."""

    def linear(channel: float) -> float:
        if channel <= 0.04045:
            return channel / 12.92
        return float(((channel + 0.055) / 1.055) ** 2.4)

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def _lightness_for(hue: float, saturation: float, luminance: float) -> float:
    """The HSL lightness at which this hue and saturation reach the luminance (which only
    grows with lightness, so halving the interval finds it)."""
    low, high = 0.0, 1.0
    for _ in range(30):
        middle = (low + high) / 2
        if relative_luminance(*colorsys.hls_to_rgb(hue, middle, saturation)) < luminance:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def avatar_colour(username: str) -> str:
    """The disc's colour for a name, as #rrggbb: the same for the same name (any case)."""
    digest = hashlib.sha256(username.lower().encode()).digest()
    hue = int.from_bytes(digest[:2]) / 65536
    saturation = 0.35 + digest[2] / 255 * 0.35
    lightness = _lightness_for(hue, saturation, DISC_LUMINANCE)
    red, green, blue = colorsys.hls_to_rgb(hue, lightness, saturation)
    return "#" + "".join(f"{round(channel * 255):02x}" for channel in (red, green, blue))


def initials(username: str) -> str:
    """One or two letters for a name: the first of its first two words, else its first."""
    words = [word for word in _WORDS.split(username) if word]
    if not words:  # a name of dashes and underscores only
        return username[:1] or "?"
    letters = words[0][0] + (words[1][0] if len(words) > 1 else "")
    return letters.upper()


def avatar_svg(username: str) -> str:
    """The avatar as an SVG document: presentation attributes only, so no style or script
    rule of the page's security policy is needed to draw it."""
    letters = initials(username)
    size = 30 if len(letters) == 1 else 26
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">'
        f'<circle cx="32" cy="32" r="32" fill="{avatar_colour(username)}"/>'
        f'<text x="32" y="32" dy="0.35em" text-anchor="middle" fill="{TEXT}"'
        ' font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'
        f' font-size="{size}" font-weight="600">{escape(letters)}</text></svg>'
    )


def etag(svg: str) -> str:
    """The avatar's HTTP entity tag: it changes only when the drawing does."""
    return '"' + hashlib.sha256(svg.encode()).hexdigest()[:20] + '"'
