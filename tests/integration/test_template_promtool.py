"""Alert templates against the real promtool 2.42: our expansion is what Prometheus's annotations hold.

Each value below is one promtool unit test: an alert fires on a series with that value, its annotations
are the ``TEMPLATES``, and the expected annotations are what ``expand`` renders. promtool passes only
when Prometheus rendered every annotation exactly so (values through Go's fmt, error texts included).
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from conftest import require_binary
from sharedconfig.monitoring.alerts import goformat
from sharedconfig.monitoring.alerts.template import AlertData, Template, TemplateError, expand

pytestmark = pytest.mark.integration

LABELS = {"instance": "db-1.example.com:9100", "job": "node", "zone": "eu-west"}

TEMPLATES = {
    "value": "{{ $value }}",
    "humanize": "{{ humanize $value }} {{ humanize1024 $value }} {{ humanizePercentage $value }}",
    "duration": "{{ humanizeDuration $value }} / {{ $value | humanizeTimestamp }}",
    "printf": '{{ printf "%.2f|%5.1e|%g|%v|%d|%s" $value $value $value $value $value $labels.job }}',
    "labels": "{{ range $k, $v := $labels }}{{ $k }}={{ $v | toUpper }};{{ end }}",
    "strings": '{{ title $labels.zone }} {{ reReplaceAll ":[0-9]+$" "" $labels.instance }} '
    '{{ match "^db-" $labels.instance }}',
    "control": "{{- if gt $value 100.0 -}} high {{- else if lt $value 0.0 }}negative"
    "{{ else }}normal{{ end -}}",
    "with": "{{ with $labels.missing }}x{{ else }}no {{ len $labels }}{{ end }}",
    "error": "{{ if gt $value 1 }}never{{ end }}",
    "field_error": "{{ $labels.job.name }}",
}

VALUES = [
    "5",
    "1000000",
    "123456789",
    "0.00001",
    "1e21",
    "0.1",
    "-2.5",
    "86461.25",
    "1234.5678",
    "NaN",
    "+Inf",
]


def expected(value: str) -> dict[str, str]:
    """Our expansion of every template for an alert with ``value``."""
    data = AlertData({"__name__": "m", **LABELS}, goformat.parse_float(value))
    return {key: expand(Template.parse(text, "__alert_Templated"), data) for key, text in TEMPLATES.items()}


@pytest.mark.parametrize("value", VALUES)
def test_promtool_renders_what_we_render(value: str, tmp_path: Path) -> None:
    """promtool's alert test passes with our expansions as the expected annotations."""
    promtool = require_binary("promtool")
    rules = {
        "groups": [{"name": "g", "rules": [{"alert": "Templated", "expr": "m", "annotations": TEMPLATES}]}]
    }
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": "m{" + ",".join(f'{k}="{v}"' for k, v in LABELS.items()) + "}",
                        "values": value,
                    }
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "0m",
                        "alertname": "Templated",
                        "exp_alerts": [{"exp_labels": LABELS, "exp_annotations": expected(value)}],
                    }
                ],
            }
        ],
    }
    (tmp_path / "rules.yml").write_text(json.dumps(rules))
    (tmp_path / "test.yml").write_text(json.dumps(test))
    result = subprocess.run(
        [promtool, "test", "rules", "test.yml"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


NUMERIC = "{{ $value }}|{{ humanize $value }}|{{ humanize1024 $value }}|{{ humanizeDuration $value }}|" + (
    '{{ printf "%.3g|%e|%.1f|%v|%10.4g|%-12.2e|%+.0f" $value $value $value $value $value $value $value }}'
)


def random_values(count: int) -> list[float]:
    """Floats over every magnitude a sample takes, both signs, with short and long digit strings."""
    rng = random.Random(11)
    values = []
    for _ in range(count):
        magnitude = 10.0 ** rng.randint(-12, 24)
        value = rng.random() * magnitude
        if rng.random() < 0.3:
            value = round(value, rng.randint(0, 3))
        values.append(-value if rng.random() < 0.2 else value)
    return values


def test_number_formatting_agrees_on_random_values(tmp_path: Path) -> None:
    """Go's float formatting (shortest %v, %g, %e, %f, widths, humanize*) agrees on 300 random values."""
    promtool = require_binary("promtool")
    values = random_values(300)
    rules = {"groups": [{"name": "g", "rules": [{"alert": "N", "expr": "n", "annotations": {"a": NUMERIC}}]}]}
    template = Template.parse(NUMERIC, "__alert_N")
    series = [{"series": f'n{{i="{i}"}}', "values": repr(value)} for i, value in enumerate(values)]
    alerts = [
        {
            "exp_labels": {"i": str(i)},
            "exp_annotations": {"a": expand(template, AlertData({"i": str(i)}, value))},
        }
        for i, value in enumerate(values)
    ]
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [{"eval_time": "0m", "alertname": "N", "exp_alerts": alerts}],
            }
        ],
    }
    (tmp_path / "rules.yml").write_text(json.dumps(rules))
    (tmp_path / "test.yml").write_text(json.dumps(test))
    result = subprocess.run(
        [promtool, "test", "rules", "test.yml"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


TOKENS = [
    *(
        "$labels",
        "$value",
        "$x :=",
        "$k, $v :=",
        "|",
        "(",
        ")",
        ".",
        ".Labels",
        ".job",
        ".Value",
        "if",
        "else",
    ),
    *(
        "end",
        "range",
        "with",
        "break",
        '"j"',
        "`b`",
        "'a'",
        "1",
        "2.5",
        "-1e3",
        "humanize",
        "humanizeDuration",
    ),
    *(
        "humanize1024",
        "humanizePercentage",
        "printf",
        '"%d|%5.2f|%s|%v"',
        "eq",
        "ne",
        "lt",
        "ge",
        "and",
        "or",
    ),
    *(
        "not",
        "index",
        "len",
        "nil",
        "true",
        "$",
        "title",
        "toUpper",
        "reReplaceAll",
        "match",
        '"^i.*:(9)$"',
        '"$1"',
    ),
    *("print", "println", "$labels.instance", "$labels.job"),
]


def random_templates(count: int, seed: int) -> list[str]:
    """Random actions and text that our parser accepts (many fail when they run: errors count too)."""
    rng = random.Random(seed)
    found: list[str] = []
    while len(found) < count:
        parts = []
        for _ in range(rng.randint(1, 4)):
            if rng.random() < 0.25:
                parts.append(rng.choice(["a", " ", "\n", "{{- ", " -}}"]))
            else:
                parts.append("{{ " + " ".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 5))) + " }}")
        text = "".join(parts)
        try:
            Template.parse(text, "__alert_F")
        except TemplateError:
            continue
        found.append(text)
    return found


@pytest.mark.parametrize("seed", [1, 2])
def test_random_templates_agree(seed: int, tmp_path: Path) -> None:
    """200 random templates we accept: Prometheus accepts them too and renders exactly what we render."""
    promtool = require_binary("promtool")
    templates = {f"t{i:03d}": text for i, text in enumerate(random_templates(200, seed))}
    data = AlertData({"__name__": "m", **LABELS}, 2.5)
    expected_annotations = {
        key: expand(Template.parse(text, "__alert_F"), data) for key, text in templates.items()
    }
    rules = {"groups": [{"name": "g", "rules": [{"alert": "F", "expr": "m", "annotations": templates}]}]}
    series = "m{" + ",".join(f'{k}="{v}"' for k, v in LABELS.items()) + "}"
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": series, "values": "2.5"}],
                "alert_rule_test": [
                    {
                        "eval_time": "0m",
                        "alertname": "F",
                        "exp_alerts": [{"exp_labels": LABELS, "exp_annotations": expected_annotations}],
                    }
                ],
            }
        ],
    }
    (tmp_path / "rules.yml").write_text(json.dumps(rules))
    (tmp_path / "test.yml").write_text(json.dumps(test))
    result = subprocess.run(
        [promtool, "test", "rules", "test.yml"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
