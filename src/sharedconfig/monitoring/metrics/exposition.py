"""Render metric families as Prometheus text 0.0.4 or OpenMetrics 1.0.0, and pick one from an Accept header.

``generate(registry, accept)`` is what ``/metrics`` serves: the body and its content type.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

from sharedconfig.monitoring.metrics.model import Collector, MetricFamily, MetricType

__all__ = [
    "OPENMETRICS_CONTENT_TYPE",
    "TEXT_CONTENT_TYPE",
    "Collector",
    "format_bound",
    "format_value",
    "generate",
    "negotiate",
    "render",
]

TEXT_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
"""Content type of the Prometheus text format 0.0.4."""

OPENMETRICS_CONTENT_TYPE: Final = "application/openmetrics-text; version=1.0.0; charset=utf-8"
"""Content type of OpenMetrics 1.0.0."""

_SPECIAL: Final = {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}
_OPENMETRICS_VERSIONS: Final = frozenset({"", "1.0.0", "0.0.1"})  # 0.0.1 is the same text, pre-1.0 name


def format_value(value: float) -> str:
    """A sample value as both formats spell it: Python's shortest repr, or ``+Inf``, ``-Inf``, ``NaN``."""
    text = repr(value)
    return _SPECIAL.get(text, text)


def format_bound(bound: float) -> str:
    """A bucket bound as the ``le`` label value, in Go's canonical spelling (``1.0``, ``1e+06``, ``+Inf``).

    OpenMetrics requires canonical ``le`` values; this matches Prometheus' clients byte for byte.
    """
    bound = float(bound)
    if math.isinf(bound) or math.isnan(bound):
        return _SPECIAL[repr(bound)]
    text = repr(bound)
    dot = text.find(".")
    if bound > 0 and dot > 6:  # Go switches to an exponent from 1e21 down to 1e6; Python only at 1e16
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def _escape_label(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return value


def _escape_help(text: str, openmetrics: bool) -> str:
    # Text 0.0.4 escapes only backslash and newline in HELP; OpenMetrics also escapes the double quote.
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if openmetrics else text


def render(families: Iterable[MetricFamily], *, openmetrics: bool = False) -> bytes:
    """Render ``families`` in the text format 0.0.4, or OpenMetrics 1.0.0 when ``openmetrics`` is true.

    Families are written in the order given, each with its HELP (when it has one) and TYPE lines. In the
    text format a counter's HELP and TYPE name it with ``_total``, as Prometheus' own clients do; in
    OpenMetrics they use the family name, a ``UNIT`` line is added when the family has a unit that is the
    suffix of its name (OpenMetrics forbids any other), and the output ends with ``# EOF``.
    """
    out: list[str] = []
    append = out.append
    pairs: dict[tuple[str, str], str] = {}  # label pair -> rendered text; bucket samples repeat them
    for family in families:
        name = family.name
        header = f"{name}_total" if family.type is MetricType.COUNTER and not openmetrics else name
        if family.help:
            append(f"# HELP {header} {_escape_help(family.help, openmetrics)}\n")
        append(f"# TYPE {header} {family.type.value}\n")
        if openmetrics and family.unit and name.endswith(f"_{family.unit}"):
            append(f"# UNIT {name} {family.unit}\n")
        for sample in family.samples:
            text = repr(sample.value)
            text = _SPECIAL.get(text, text)
            if sample.labels:
                parts = []
                for pair in sample.labels:
                    rendered = pairs.get(pair)
                    if rendered is None:
                        rendered = pairs[pair] = f'{pair[0]}="{_escape_label(pair[1])}"'
                    parts.append(rendered)
                append(f"{sample.name}{{{','.join(parts)}}} {text}\n")
            else:
                append(f"{sample.name} {text}\n")
    if openmetrics:
        append("# EOF\n")
    return "".join(out).encode("utf-8", "replace")


def negotiate(accept: str | None) -> tuple[bool, str]:
    """Choose the format for an Accept header: ``(openmetrics, content_type)``.

    Each format takes the quality of the most specific media range that matches it (``text/plain`` or
    ``application/openmetrics-text`` beat ``text/*`` and ``application/*``, which beat ``*/*``); OpenMetrics
    is served when its quality is higher, or equal but named more specifically. Everything else, a missing
    header or one naming neither format included, gets the text format every scraper reads.
    """
    if not accept:
        return False, TEXT_CONTENT_TYPE
    # (specificity, quality) of the best match so far per format; specificity -1 means no match yet
    openmetrics = (-1, 0.0)
    text = (-1, 0.0)
    for media_range in accept.split(","):
        media, *params = media_range.split(";")
        media = media.strip().lower()
        quality = 1.0
        version = ""
        for param in params:
            key, _, value = param.partition("=")
            key, value = key.strip().lower(), value.strip().strip('"')
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
                quality = 0.0 if math.isnan(quality) else min(max(quality, 0.0), 1.0)
            elif key == "version":
                version = value
        if media == "application/openmetrics-text" and version in _OPENMETRICS_VERSIONS:
            openmetrics = _better(openmetrics, (2, quality))
        elif media == "text/plain":
            text = _better(text, (2, quality))
        elif media == "application/*":
            openmetrics = _better(openmetrics, (1, quality))
        elif media == "text/*":
            text = _better(text, (1, quality))
        elif media == "*/*":
            openmetrics = _better(openmetrics, (0, quality))
            text = _better(text, (0, quality))
    om_quality, text_quality = openmetrics[1], text[1]
    if om_quality > 0 and (om_quality, openmetrics[0]) > (text_quality, text[0]):
        return True, OPENMETRICS_CONTENT_TYPE
    return False, TEXT_CONTENT_TYPE


def _better(current: tuple[int, float], candidate: tuple[int, float]) -> tuple[int, float]:
    """The more specific match wins; between equally specific ones, the higher quality."""
    return max(current, candidate)


def generate(registry: Collector, accept: str | None) -> tuple[bytes, str]:
    """Collect ``registry`` and render it in the format ``accept`` prefers: ``(body, content_type)``."""
    openmetrics, content_type = negotiate(accept)
    return render(registry.collect(), openmetrics=openmetrics), content_type
