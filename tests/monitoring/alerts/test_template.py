"""Alert templates: Go's text/template and Prometheus's functions, checked against what Prometheus prints.

``PROMTOOL_CASES`` were recorded from promtool 2.42 (``promtool test rules`` prints the annotations an
alert got): each template ran as an annotation of an alert whose sample had the labels
``{__name__="m", instance="i:9", job="j"}`` and the value in the second column. The other tests take
their facts from Prometheus's template/template_test.go and Go's documented fmt and text/template rules.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sharedconfig.monitoring.alerts import goformat
from sharedconfig.monitoring.alerts.template import (
    PROMETHEUS_HEADER,
    AlertData,
    Template,
    TemplateError,
    TemplateExecutionError,
    expand,
)

LABELS = {"__name__": "m", "instance": "i:9", "job": "j"}


def alert(value: float, labels: dict[str, str] | None = None, **kwargs: object) -> AlertData:
    """Alert data as Prometheus passes it to an alert's templates."""
    return AlertData(LABELS if labels is None else labels, value, **kwargs)  # type: ignore[arg-type]


def render(text: str, data: object) -> str:
    """Parse and render ``text`` (errors raise)."""
    return Template.parse(text, "t").render(data)


PROMTOOL_CASES = [
    (
        "{{ $value }}",
        "5",
        "5",
    ),
    (
        "{{ $value }}",
        "1000000",
        "1e+06",
    ),
    (
        "{{ $value }}",
        "100000",
        "100000",
    ),
    (
        "{{ $value }}",
        "123456789",
        "1.23456789e+08",
    ),
    (
        "{{ $value }}",
        "0.0001",
        "0.0001",
    ),
    (
        "{{ $value }}",
        "0.00001",
        "1e-05",
    ),
    (
        "{{ $value }}",
        "1e21",
        "1e+21",
    ),
    (
        "{{ $value }}",
        "1e20",
        "1e+20",
    ),
    (
        "{{ $value }}",
        "0.1",
        "0.1",
    ),
    (
        "{{ $value }}",
        "-2.5",
        "-2.5",
    ),
    (
        "{{ $value }}",
        "Inf",
        "+Inf",
    ),
    (
        "{{ $value }}",
        "-Inf",
        "-Inf",
    ),
    (
        "{{ $value }}",
        "NaN",
        "NaN",
    ),
    (
        "{{ $value }}",
        "0.30000000000000004",
        "0.30000000000000004",
    ),
    (
        "{{ $value }}",
        "123456.7",
        "123456.7",
    ),
    (
        "{{ $value }}",
        "1234567.5",
        "1.2345675e+06",
    ),
    (
        "{{ $value }}",
        "5e-324",
        "5e-324",
    ),
    (
        "{{ $value }}",
        "1.7976931348623157e308",
        "1.7976931348623157e+308",
    ),
    (
        "{{ .Value }}",
        "42",
        "42",
    ),
    (
        "{{ $value }}",
        "0",
        "0",
    ),
    (
        "{{ $value }}",
        "-0.000123",
        "-0.000123",
    ),
    (
        "{{ humanize $value }}",
        "1234567",
        "1.235M",
    ),
    (
        "{{ humanize $value }}",
        "0.001234",
        "1.234m",
    ),
    (
        "{{ humanize $value }}",
        "0.12",
        "120m",
    ),
    (
        "{{ humanize $value }}",
        "0",
        "0",
    ),
    (
        "{{ humanize $value }}",
        "999.95",
        "1000",
    ),
    (
        "{{ humanize $value }}",
        "999999",
        "1000k",
    ),
    (
        "{{ humanize $value }}",
        "-0.5",
        "-500m",
    ),
    (
        "{{ humanize $value }}",
        "1e30",
        "1e+06Y",
    ),
    (
        "{{ humanize $value }}",
        "1e-30",
        "1e-06y",
    ),
    (
        "{{ humanize $value }}",
        "Inf",
        "+Inf",
    ),
    (
        "{{ humanize $value }}",
        "NaN",
        "NaN",
    ),
    (
        "{{ humanize1024 $value }}",
        "1048576",
        "1Mi",
    ),
    (
        "{{ humanize1024 $value }}",
        "1536",
        "1.5ki",
    ),
    (
        "{{ humanize1024 $value }}",
        "0.12",
        "0.12",
    ),
    (
        "{{ humanize1024 $value }}",
        "1",
        "1",
    ),
    (
        "{{ humanize1024 $value }}",
        "-2048",
        "-2ki",
    ),
    (
        "{{ humanize1024 $value }}",
        "1e30",
        "8.272e+05Yi",
    ),
    (
        "{{ humanizeDuration $value }}",
        "0",
        "0s",
    ),
    (
        "{{ humanizeDuration $value }}",
        "1",
        "1s",
    ),
    (
        "{{ humanizeDuration $value }}",
        "60",
        "1m 0s",
    ),
    (
        "{{ humanizeDuration $value }}",
        "93784",
        "1d 2h 3m 4s",
    ),
    (
        "{{ humanizeDuration $value }}",
        "-93784",
        "-1d 2h 3m 4s",
    ),
    (
        "{{ humanizeDuration $value }}",
        "899.99",
        "14m 59s",
    ),
    (
        "{{ humanizeDuration $value }}",
        "0.1234",
        "123.4ms",
    ),
    (
        "{{ humanizeDuration $value }}",
        "0.000001234",
        "1.234us",
    ),
    (
        "{{ humanizeDuration $value }}",
        "12.345",
        "12.35s",
    ),
    (
        "{{ humanizeDuration $value }}",
        "-0.5",
        "-500ms",
    ),
    (
        "{{ humanizeDuration $value }}",
        "NaN",
        "NaN",
    ),
    (
        "{{ humanizePercentage $value }}",
        "0.5",
        "50%",
    ),
    (
        "{{ humanizePercentage $value }}",
        "0.1234567",
        "12.35%",
    ),
    (
        "{{ humanizePercentage $value }}",
        "-0.22222",
        "-22.22%",
    ),
    (
        "{{ humanizePercentage $value }}",
        "12345678",
        "1.235e+09%",
    ),
    (
        "{{ humanizePercentage $value }}",
        "0",
        "0%",
    ),
    (
        "{{ humanizeTimestamp $value }}",
        "1435065584.128",
        "2015-06-23 13:19:44.128 +0000 UTC",
    ),
    (
        "{{ humanizeTimestamp $value }}",
        "0",
        "1970-01-01 00:00:00 +0000 UTC",
    ),
    (
        "{{ humanizeTimestamp $value }}",
        "-1",
        "1969-12-31 23:59:59 +0000 UTC",
    ),
    (
        "{{ humanizeTimestamp $value }}",
        "1.0005",
        "1970-01-01 00:00:01 +0000 UTC",
    ),
    (
        "{{ humanizeTimestamp $value }}",
        "-0.5",
        "1969-12-31 23:59:59.5 +0000 UTC",
    ),
    (
        "{{ humanizeTimestamp $value }}",
        "Inf",
        "+Inf",
    ),
    (
        "{{ humanizeTimestamp $value }}",
        "1e300",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <humanizeTimestamp $value'
        ">: error calling humanizeTimestamp: 1e+300 cannot be represented as a "
        "nanoseconds timestamp since it overflows int64>",
    ),
    (
        '{{ humanize "1234567.0" }}|{{ humanize 2048 }}|{{ humanize1024 "104857'
        '6" }}|{{ humanizeDuration "3600" }}',
        "1",
        "1.235M|2.048k|1Mi|1h 0m 0s",
    ),
    (
        '{{ humanize "one" }}',
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <humanize "one">: error c'
        'alling humanize: strconv.ParseFloat: parsing "one": invalid syntax>',
    ),
    (
        '{{ "one" | humanizePercentage }}',
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:123: executing "__alert_A" at <humanizePercentage>: err'
        'or calling humanizePercentage: strconv.ParseFloat: parsing "one": inva'
        "lid syntax>",
    ),
    (
        "{{ humanize true }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <humanize true>: error ca'
        "lling humanize: can't convert bool to float>",
    ),
    (
        '{{ humanize "1e400" }}',
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <humanize "1e400">: error'
        ' calling humanize: strconv.ParseFloat: parsing "1e400": value out of r'
        "ange>",
    ),
    (
        '{{ humanize "+Inf" }}:{{ humanize "-inf" }}:{{ humanize "nan" }}:{{ humanize "0x1p-2" }}',
        "1",
        "+Inf:-Inf:NaN:250m",
    ),
    (
        '{{ toUpper "aa bb CC é" }}|{{ toLower "aA bB CC É" }}|{{ title "aa bb '
        'CC" }}|{{ title "hello wORLD foo-bar x_y 3d" }}',
        "1",
        "AA BB CC É|aa bb cc é|Aa Bb CC|Hello WORLD Foo-Bar X_y 3d",
    ),
    (
        "{{ $labels.job | toUpper }}",
        "1",
        "J",
    ),
    (
        "{{ toUpper $value }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:123: executing "__alert_A" at <$value>: wrong type for '
        "value; expected string; got float64>",
    ),
    (
        "{{ toUpper 1 }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:123: executing "__alert_A" at <1>: expected string; fou'
        "nd 1>",
    ),
    (
        '{{ reReplaceAll "(a)b" "x$1" "ab" }}',
        "1",
        "xa",
    ),
    (
        '{{ reReplaceAll "a*" "-" "baaac" }}',
        "1",
        "-b-c-",
    ),
    (
        '{{ reReplaceAll "(?P<x>a)(b)" "${x}$2$$ $1x" "abab" }}',
        "1",
        "ab$ ab$ ",
    ),
    (
        '{{ reReplaceAll ":[0-9]+$" "" $labels.instance }}',
        "1",
        "i",
    ),
    (
        '{{ reReplaceAll "^(.*):.*$" "$1" "host:9100" }}',
        "1",
        "host",
    ),
    (
        '{{ reReplaceAll "(" "" "a" }}',
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <reReplaceAll "(" "" "a">'
        ": error calling reReplaceAll: regexp: Compile(`(`): error parsing rege"
        "xp: missing closing ): `(`>",
    ),
    (
        '{{ match "a+" "aa" }} {{ match "a+" "b" }} {{ match "^i" $labels.instance }}',
        "1",
        "true false true",
    ),
    (
        '{{ if match "^j" $labels.job }}yes{{ end }}',
        "1",
        "yes",
    ),
    (
        '{{ $labels.job }}/{{ .Labels.instance }}/{{ index $labels "job" }}/{{ '
        '$labels.missing }}|{{ index $labels "nope" }}|',
        "1",
        "j/i:9/j/||",
    ),
    (
        "{{ $labels }}",
        "1",
        "map[__name__:m instance:i:9 job:j]",
    ),
    (
        "{{ . }}",
        "7",
        "{map[__name__:m instance:i:9 job:j] map[]  7}",
    ),
    (
        "{{ .Foo }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <.Foo>: can\'t evaluate fi'
        "eld Foo in type struct { Labels map[string]string; ExternalLabels map["
        "string]string; ExternalURL string; Value float64 }>",
    ),
    (
        "{{ $labels.job.x }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:122: executing "__alert_A" at <$labels.job.x>: can\'t ev'
        "aluate field x in type string>",
    ),
    (
        "x{{ $externalURL }}x{{ $externalLabels }}",
        "1",
        "xxmap[]",
    ),
    (
        "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
        "1",
        "__name__=m;instance=i:9;job=j;",
    ),
    (
        "{{ range $labels }}{{ . }},{{ end }}",
        "1",
        "m,i:9,j,",
    ),
    (
        '{{ range $i, $e := "abc" }}{{ end }}',
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:131: executing "__alert_A" at <"abc">: range can\'t iter'
        "ate over abc>",
    ),
    (
        "{{ range $externalLabels }}x{{ else }}empty{{ end }}",
        "1",
        "empty",
    ),
    (
        '{{ range $k, $v := $labels }}{{ if eq $k "job" }}{{ break }}{{ end }}{{ $k }};{{ end }}',
        "1",
        "__name__;instance;",
    ),
    (
        '{{ range $k, $v := $labels }}{{ if eq $k "instance" }}{{ continue }}{{ end }}{{ $k }};{{ end }}',
        "1",
        "__name__;job;",
    ),
    (
        "{{ with $labels.job }}job={{ . }}{{ else }}none{{ end }}|{{ with $labe"
        "ls.nope }}x{{ else }}none{{ end }}",
        "1",
        "job=j|none",
    ),
    (
        "{{ if gt $value 80.0 }}high{{ else if gt $value 50.0 }}medium{{ else }}low{{ end }}",
        "90",
        "high",
    ),
    (
        "{{ if gt $value 80.0 }}high{{ else if gt $value 50.0 }}medium{{ else }}low{{ end }}",
        "60",
        "medium",
    ),
    (
        "{{ if gt $value 80.0 }}high{{ else if gt $value 50.0 }}medium{{ else }}low{{ end }}",
        "10",
        "low",
    ),
    (
        "  a {{- /* c */ -}}  b {{- 1 -}} \n c {{ if true }}y{{ end }}",
        "1",
        "  ab1c y",
    ),
    (
        "{{/* only a comment */}}x",
        "1",
        "x",
    ),
    (
        "a\n  {{- $value -}}\n  b",
        "3",
        "a3b",
    ),
    (
        "{{ $x := 1 }}{{ $x }}{{ $x = 2 }}{{ $x }}{{ if true }}{{ $x = 3 }}{{ $"
        "y := 4 }}{{ $y }}{{ end }}{{ $x }}",
        "1",
        "1243",
    ),
    (
        '{{ $value | printf "%.2f" }}|{{ printf "%.1f%%" (humanize $value | len | print) }}',
        "3.14159",
        "3.14|%!f(string=5)%",
    ),
    (
        '{{ eq $value 5.0 }}{{ eq "a" "b" "a" }}{{ ne 1 2 }}{{ lt "a" "b" }}{{ '
        'and 1 0 2 }}{{ or 0 "" "x" }}{{ not "" }}{{ and 1 2 }}{{ or 0 "" }}',
        "5",
        "truetruetruetrue0xtrue2",
    ),
    (
        "{{ gt $value 1 }}",
        "5",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <gt $value 1>: error call'
        "ing gt: incompatible types for comparison>",
    ),
    (
        "{{ eq 1 1.0 }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <eq 1 1.0>: error calling'
        " eq: incompatible types for comparison>",
    ),
    (
        "{{ lt true false }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <lt true false>: error ca'
        "lling lt: invalid type for comparison>",
    ),
    (
        '{{ le 2 2 }}{{ ge 1.5 2.5 }}{{ gt "b" "a" }}',
        "1",
        "truefalsetrue",
    ),
    (
        '{{ len $labels }} {{ len "héllo" }} {{ len $value }}',
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:152: executing "__alert_A" at <len $value>: error calli'
        "ng len: len of type float64>",
    ),
    (
        '{{ index $labels "job" "x" }}',
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <index $labels "job" "x">'
        ": error calling index: cannot index slice/array with type string>",
    ),
    (
        '{{ if and (gt $value 1.0) (lt $value 10.0) }}in{{ end }}{{ if not (eq $labels.job "x") }}!{{ end }}',
        "5",
        "in!",
    ),
    (
        "{{ if $labels.nope }}a{{ else }}b{{ end }}{{ if $value }}v{{ end }}{{ if 0.0 }}z{{ end }}",
        "0",
        "b",
    ),
    (
        '{{ print 1 2 "a" "b" 3 $value true false }}|{{ println 1 "a" }}|',
        "5",
        "1 2ab3 5 true false|1 a\n|",
    ),
    (
        '{{ printf "%5.2f|%-8.3e|%08.3f|%+.1f|% d|%g|%G|%.3g|%10.4v|%v" 3.14159'
        " 1234.5 -3.14159 2.0 5 1e-7 1e-7 0.0001234 1234.5678 -0.0 }}",
        "1",
        " 3.14|1.234e+03|-003.142|+2.0| 5|1e-07|1E-07|0.000123|      1235|-0",
    ),
    (
        '{{ printf "%s|%v|%d|%t|%v|%s|%.2s|%5s|%-5s|%05s" $labels $labels $labe'
        'ls true "x" nil "abc" "é" "é" "ab" }}',
        "1",
        "map[__name__:m instance:i:9 job:j]|map[__name__:m instance:i:9 job:j]|"
        "map[%!d(string=__name__):%!d(string=m) %!d(string=instance):%!d(string"
        "=i:9) %!d(string=job):%!d(string=j)]|true|x|%!s(<nil>)|ab|    é|é    |"
        "000ab",
    ),
    (
        '{{ printf "%x|%X|%o|%b|%c|%q|%U|%x|%X" 255 255 8 5 65 65 65 "hi" -255 }}',
        "1",
        "ff|FF|10|101|A|'A'|U+0041|6869|-FF",
    ),
    (
        '{{ printf "%v %v %v %e %E %.0f %.0f %.0f" 1e100 123456.7 1e6 1e6 0.000123 0.5 1.5 2.5 }}',
        "1",
        "1e+100 123456.7 1e+06 1.000000e+06 1.230000E-04 0 2 2",
    ),
    (
        '{{ printf "%d %s %f" 1.5 2 3 }}|{{ printf "%d" }}|{{ printf "%d" 1 2 }'
        '}|{{ printf "%" }}|{{ printf "%z" 1 }}',
        "1",
        "%!d(float64=1.5) %!s(int=2) %!f(int=3)|%!d(MISSING)|1%!(EXTRA int=2)|%!(NOVERB)|%!z(int=1)",
    ),
    (
        '{{ printf "%q" "a\\tb\\u00e9\\x01\\u2028\\"" }}|{{ printf "%x" 1e6 }}|{{ pr'
        'intf "%f %v" $value $value }}',
        "Inf",
        '"a\\tbé\\x01\\u2028\\""|0x1.e848p+19|+Inf +Inf',
    ),
    (
        '{{ printf "%08.2f|%-8.2f|%+8.2f|%8v" -1.5 1.5 1.5 $value }}',
        "NaN",
        "-0001.50|1.50    |   +1.50|     NaN",
    ),
    (
        '{{ printf "%.2f" 1 }}',
        "1",
        "%!f(int=01)",
    ),
    (
        "{{ printf $value }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:122: executing "__alert_A" at <$value>: wrong type for '
        "value; expected string; got float64>",
    ),
    (
        '{{ printf "%s" $labels.missing }}|{{ printf "%d" $value }}',
        "1",
        "|%!d(float64=1)",
    ),
    (
        "{{ 0x1F }} {{ 1e3 }} {{ 1_000 }} {{ -5 }} {{ +5 }} {{ 017 }} {{ 0o17 }"
        "} {{ 0b11 }} {{ 1.5e300 }} {{ .5 }} {{ 0x1p-2 }} {{ 'a' }} {{ \"\\u00e9\""
        " }} {{ `raw\\n` }}",
        "1",
        "31 1000 1000 -5 5 15 15 3 1.5e+300 0.5 0.25 97 é raw\\n",
    ),
    (
        '{{ urlquery "a b&c/é" }}',
        "1",
        "a+b%26c%2F%C3%A9",
    ),
    (
        '{{ (1.5) }} {{ ("x" | printf "%s!") }} {{ true }} {{ 1.0 }}',
        "1",
        "1.5 x! true 1",
    ),
    (
        "Disk is almost full (< 10% left)\n  VALUE = {{ $value }}\n  LABELS = {{ $labels }}",
        "7.123456",
        "Disk is almost full (< 10% left)\n  VALUE = 7.123456\n  LABELS = map[__name__:m instance:i:9 job:j]",
    ),
    (
        '{{ $labels.instance }} has {{ printf "%.2f" $value }}% free',
        "12.3456",
        "i:9 has 12.35% free",
    ),
    (
        "Instance {{ $labels.instance }} of job {{ $labels.job }} has been down for more than 5 minutes.",
        "0",
        "Instance i:9 of job j has been down for more than 5 minutes.",
    ),
    (
        "{{ range $i, $e := $labels }}{{ if $i }}, {{ end }}{{ $e }}{{ end }}",
        "1",
        ", m, i:9, j",
    ),
    (
        "{{ $first := true }}{{ range $k, $v := $labels }}{{ if not $first }}, "
        "{{ end }}{{ $first = false }}{{ $k }}{{ end }}",
        "1",
        "__name__, instance, job",
    ),
    (
        "{{ range $k, $v := $labels }}{{ $ }}{{ end }}",
        "1",
        "{map[__name__:m instance:i:9 job:j] map[]  1}{map[__name__:m instance:"
        "i:9 job:j] map[]  1}{map[__name__:m instance:i:9 job:j] map[]  1}",
    ),
    (
        "{{ range $k, $v := $labels }}{{ $.Value }}{{ $value }}{{ end }}",
        "2",
        "222222",
    ),
    (
        '{{ .Labels.job | printf "%q" }} {{ printf "%s=%q" "job" .Labels.job }}',
        "1",
        '"j" job="j"',
    ),
    (
        '{{ $v := printf "%.1f" $value }}{{ $v }}{{ if eq $v "2.0" }}!{{ end }}',
        "2",
        "2.0!",
    ),
    (
        '{{ humanize (printf "%f" $value) }}',
        "0.000123",
        "123u",
    ),
    (
        "{{ .Labels.job.x }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:122: executing "__alert_A" at <.Labels.job.x>: can\'t ev'
        "aluate field x in type string>",
    ),
    (
        "{{ $labels.job 1 }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:122: executing "__alert_A" at <$labels.job>: job is not'
        " a method but has arguments>",
    ),
    (
        "{{ .Value 1 }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <.Value>: Value has argum'
        "ents but cannot be invoked as function>",
    ),
    (
        "{{ 1 | $value }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:119: executing "__alert_A" at <$value>: can\'t give argu'
        "ment to non-function $value>",
    ),
    (
        '{{ index . "x" }}',
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <index . "x">: error call'
        "ing index: can't index item of type struct { Labels map[string]string;"
        " ExternalLabels map[string]string; ExternalURL string; Value float64 }"
        ">",
    ),
    (
        "{{ index $labels 1 }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <index $labels 1>: error '
        "calling index: value has type int; should be string>",
    ),
    (
        "{{ index $labels }}",
        "1",
        "map[__name__:m instance:i:9 job:j]",
    ),
    (
        "{{ len . }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <len .>: error calling le'
        "n: len of type struct { Labels map[string]string; ExternalLabels map[s"
        "tring]string; ExternalURL string; Value float64 }>",
    ),
    (
        "{{ with . }}{{ .Value }}{{ end }}{{ with $labels }}{{ .job }}{{ end }}",
        "3",
        "3j",
    ),
    (
        '{{ if and $labels.job (eq $labels.job "j") }}ok{{ end }}{{ or $labels.nope "default" }}',
        "1",
        "okdefault",
    ),
    (
        "{{ not 0 }}{{ not 1.5 }}{{ not $labels }}{{ not $externalLabels }}",
        "1",
        "truefalsefalsetrue",
    ),
    (
        '{{ eq $labels.job "j" "k" }}{{ eq $value 1.0 2.0 }}{{ ne "a" "a" }}',
        "2",
        "truetruefalse",
    ),
    (
        "{{ eq $labels $labels }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <eq $labels $labels>: err'
        "or calling eq: non-comparable type map[__name__:m instance:i:9 job:j]:"
        " map[string]string>",
    ),
    (
        "{{ lt $labels 1 }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <lt $labels 1>: error cal'
        "ling lt: invalid type for comparison>",
    ),
    (
        "{{ eq true 1 }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <eq true 1>: error callin'
        "g eq: incompatible types for comparison>",
    ),
    (
        '{{ printf "%v" $externalLabels }}|{{ printf "%s" . }}',
        "1",
        "map[]|{map[__name__:m instance:i:9 job:j] map[]  %!s(float64=1)}",
    ),
    (
        '{{ print }}|{{ print nil }}|{{ print $labels.nope }}|{{ println }}|{{ print "a" 1 2 "b" }}',
        "1",
        "|<nil>||\n|a1 2b",
    ),
    (
        '{{ printf "%d%%" 50 }} {{ printf "%3c|%-3c|" 65 66 }}{{ printf "%t" 1 }}',
        "1",
        "50%   A|B  |%!t(int=1)",
    ),
    (
        '{{ printf "%.3s|%.10s|%x|% x|%#x" "abcdef" "ab" "héllo" 255 255 }}',
        "1",
        "abc|ab|68c3a96c6c6f| ff|0xff",
    ),
    (
        '{{ printf "%6.2f%%" $value }}',
        "99.5",
        " 99.50%",
    ),
    (
        '{{ printf "%.0f" $value }}',
        "2.5",
        "2",
    ),
    (
        '{{ printf "%.0f" $value }}',
        "3.5",
        "4",
    ),
    (
        '{{ printf "%.1f" $value }}',
        "0.05",
        "0.1",
    ),
    (
        '{{ printf "%.2f" $value }}',
        "1.005",
        "1.00",
    ),
    (
        '{{ printf "%.3g" $value }}',
        "1e-5",
        "1e-05",
    ),
    (
        '{{ printf "%g" $value }}',
        "1e21",
        "1e+21",
    ),
    (
        '{{ printf "%G" $value }}',
        "1e-21",
        "1E-21",
    ),
    (
        '{{ printf "%e" $value }}',
        "0",
        "0.000000e+00",
    ),
    (
        '{{ printf "%08.3f" $value }}',
        "-Inf",
        "    -Inf",
    ),
    (
        '{{ printf "%+v %+d % d" $value 5 -5 }}',
        "3",
        "3 +5 -5",
    ),
    (
        "{{ humanize $value }}",
        "999999.9",
        "1000k",
    ),
    (
        "{{ humanize $value }}",
        "1e27",
        "1000Y",
    ),
    (
        "{{ humanize $value }}",
        "0.0009999",
        "999.9u",
    ),
    (
        "{{ humanize1024 $value }}",
        "1023.99",
        "1024",
    ),
    (
        "{{ humanizeDuration $value }}",
        "59.99999",
        "60s",
    ),
    (
        "{{ humanizeDuration $value }}",
        "1e20",
        "-106751991167300d -15h -30m -8s",
    ),
    (
        "{{ humanizeDuration $value }}",
        "0.00000000000000000000000001",
        "0.01ys",
    ),
    (
        "{{ humanizeTimestamp $value }}",
        "1700000000.999999",
        "2023-11-14 22:13:20.999 +0000 UTC",
    ),
    (
        "{{ humanizeTimestamp $value }}",
        "9.2e9",
        "2261-07-15 11:33:20 +0000 UTC",
    ),
    (
        "{{ humanizeTimestamp $value }}",
        "-9e9",
        "1684-10-19 08:00:00 +0000 UTC",
    ),
    (
        "{{ humanizeTimestamp $value }}",
        "1e10",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <humanizeTimestamp $value'
        ">: error calling humanizeTimestamp: 1e+10 cannot be represented as a n"
        "anoseconds timestamp since it overflows int64>",
    ),
    (
        '{{ title "ǆemal über élan 1st o\'neil" }}|{{ toUpper "straße ǆ" }}|{{ toLower "İSTANBUL" }}',
        "1",
        "ǅemal Über Élan 1st O'Neil|STRAßE Ǆ|istanbul",
    ),
    (
        '{{ reReplaceAll "" "-" "abc" }}|{{ reReplaceAll "b*" "X" "abc" }}|{{ r'
        'eReplaceAll "(?i)A" "x" "aA" }}|{{ reReplaceAll "\\\\d+" "#" "a1b22" }}',
        "1",
        "-a-b-c-|XaXcX|xx|a#b#",
    ),
    (
        '{{ reReplaceAll "(\\\\w+)@(\\\\w+)" "$2 at $1" "joe@example" }}|{{ reRepla'
        'ceAll "a" "$0$10${1}" "a" }}|{{ reReplaceAll "(a)" "${1}x$1x" "a" }}',
        "1",
        "example at joe|a|ax",
    ),
    (
        '{{ match "^[a-z]+$" "abc\\n" }}|{{ match "\\\\bj\\\\b" $labels.job }}|{{ match "é" "café" }}',
        "1",
        "false|true|true",
    ),
    (
        '{{ "\\a\\b\\f\\v\\x41\\101\\u00e9\\U0001F600" | printf "%q" }}',
        "1",
        '"\\a\\b\\f\\vAAé😀"',
    ),
    (
        "{{/* a */}}{{- /* b */}}x{{/* c */ -}} y",
        "1",
        "xy",
    ),
    (
        "{{ if eq 1 1 }}a{{ else }}{{ if true }}b{{ end }}{{ end }}{{ range $labels }}{{ else }}{{ end }}",
        "1",
        "a",
    ),
    (
        '{{ $labels.instance | reReplaceAll ":.*" "" | toUpper | printf "host=%s" }}',
        "1",
        "host=I",
    ),
    (
        '{{ (index $labels "job") | len }}{{ (printf "%s" "x").y }}',
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:161: executing "__alert_A" at <"x">: can\'t evaluate fie'
        "ld y in type string>",
    ),
    (
        "{{ len nil }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <len nil>: error calling '
        "len: reflect: call of reflect.Value.Type on zero Value>",
    ),
    (
        "{{ printf nil }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:122: executing "__alert_A" at <nil>: cannot assign nil '
        "to string>",
    ),
    (
        "{{ len $labels.nope }}",
        "1",
        "0",
    ),
    (
        "{{ index nil 1 }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <index nil 1>: error call'
        "ing index: index of untyped nil>",
    ),
    (
        "{{ index $labels.nope 1 }}",
        "1",
        "<error expanding template: error executing template __alert_A: templat"
        'e: __alert_A:1:115: executing "__alert_A" at <index $labels.nope 1>: e'
        "rror calling index: index out of range: 1>",
    ),
    (
        "{{ not nil }}{{ and nil 1 }}{{ or nil }}",
        "1",
        "true<no value><no value>",
    ),
    (
        "{{ eq nil nil }}",
        "1",
        "true",
    ),
]


class TestAgainstPromtool:
    @pytest.mark.parametrize(("text", "value", "expected"), PROMTOOL_CASES)
    def test_renders_what_prometheus_rendered(self, text: str, value: str, expected: str) -> None:
        """Every recorded template renders byte for byte as Prometheus 2.42 rendered it, errors included."""
        data = alert(goformat.parse_float(value))
        assert expand(Template.parse(text, "__alert_A"), data) == expected


class TestGoFloats:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (1e6, "1e+06"),
            (100000.0, "100000"),
            (123456789.0, "1.23456789e+08"),
            (1e21, "1e+21"),
            (1e20, "1e+20"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (5.0, "5"),
            (-0.0, "-0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.5e300, "1.5e+300"),
            (5e-324, "5e-324"),
            (math.inf, "+Inf"),
            (-math.inf, "-Inf"),
            (math.nan, "NaN"),
        ],
    )
    def test_v_of_a_float64(self, value: float, expected: str) -> None:
        """%v: shortest digits, exponent form below 1e-4 and from 1e6 on, two exponent digits at least."""
        assert goformat.format_value(value) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [(1234567.0, "1.235e+06"), (1000.0, "1000"), (100000.0, "1e+05"), (0.12345, "0.1235"), (1.0, "1")],
    )
    def test_g_with_precision_four(self, value: float, expected: str) -> None:
        """%.4g as humanize uses it: four significant digits, trailing zeros dropped."""
        assert goformat.format_float(value, "g", 4) == expected

    def test_parse_float_reads_go_syntax(self) -> None:
        """ParseFloat reads hex floats and Inf/NaN in any case; it refuses what Go refuses, in Go's words."""
        assert goformat.parse_float("0x1p-2") == 0.25
        assert goformat.parse_float("-Infinity") == -math.inf
        with pytest.raises(ValueError, match=r'parsing "1_000": invalid syntax'):
            goformat.parse_float("1_000")

    def test_sprint_spaces_only_between_non_strings(self) -> None:
        """Sprint puts a space between operands only when neither is a string."""
        assert goformat.sprint(1, 2, "a", 3, "b") == "1 2a3b"


class TestPrometheusTemplateTests:
    """Facts from Prometheus's template_test.go, which ranges over lists of Go values as the data."""

    def test_humanize_of_each_kind(self) -> None:
        """humanize takes floats, ints and numeric strings."""
        text = "{{ range . }}{{ humanize . }}:{{ end }}"
        assert render(text, [0.0, 1.0, 1234567.0, 0.12]) == "0:1:1.235M:120m:"
        assert render(text, ["0.0", "1.0", "1234567.0", ".12"]) == "0:1:1.235M:120m:"
        assert render(text, [0, -1, 1, 1234567, 2**63 - 1]) == "0:-1:1:1.235M:9.223E:"

    def test_humanize1024(self) -> None:
        """humanize1024 uses binary prefixes, ki for the first."""
        text = "{{ range . }}{{ humanize1024 . }}:{{ end }}"
        assert render(text, [0.0, 1.0, 1048576.0, 0.12]) == "0:1:1Mi:0.12:"
        assert render(text, [0, -1, 1, 1234567, 2**63 - 1]) == "0:-1:1:1.177Mi:8Ei:"

    def test_humanize_duration(self) -> None:
        """Whole days to minutes, seconds with four digits, SI prefixes below a second."""
        text = "{{ range . }}{{ humanizeDuration . }}:{{ end }}"
        values = [
            0.0,
            1.0,
            60.0,
            3600.0,
            86400.0,
            86400.0 + 3600,
            -(86400 * 2 + 3600 * 3 + 60 * 4 + 5),
            899.99,
        ]
        expected = "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:"
        assert render(text, values) == expected
        subsecond = [0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345]
        assert render(text, subsecond) == "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:"
        assert render(text, [0, -1, 1, 1234567]) == "0s:-1s:1s:14d 6h 56m 7s:"

    def test_infinities_and_nan(self) -> None:
        """Every humanize function prints +Inf, -Inf and NaN as %.4g does."""
        text = (
            "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:"
            "{{humanizeTimestamp .}}:{{ end }}"
        )
        expected = "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:"
        assert render(text, [math.inf, -math.inf, math.nan]) == expected
        assert render(text, ["+Inf", "-Inf", "NaN"]) == expected

    def test_humanize_percentage(self) -> None:
        """humanizePercentage is %.4g of the value times 100."""
        text = (
            "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:"
            "{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}"
        )
        assert render(text, None) == "-22.22%:0%:12.35%:123.5%"
        ints = "{{ range . }}{{ humanizePercentage . }}:{{ end }}"
        assert render(ints, [0, -1, 1, 1234567, 2**63 - 1]) == "0%:-100%:100%:1.235e+08%:9.223e+20%:"

    def test_humanize_timestamp(self) -> None:
        """Go's time.String of UTC, with milliseconds when there are any."""
        text = "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}"
        expected = (
            "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:"
            "1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:"
        )
        assert render(text, [0, -1, 1, 1234567, 9223372036]) == expected
        assert render("{{ 1435065584.128 | humanizeTimestamp }}", None) == "2015-06-23 13:19:44.128 +0000 UTC"

    def test_humanize_timestamp_overflow(self) -> None:
        """A timestamp beyond int64 nanoseconds is an execution error worded as Go words it."""
        with pytest.raises(TemplateExecutionError) as caught:
            render("{{ range . }}{{ humanizeTimestamp . }}:{{ end }}", [-(2**63), 2**63 - 1])
        assert caught.value.message == (
            "error calling humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a "
            "nanoseconds timestamp since it overflows int64"
        )

    def test_string_functions(self) -> None:
        """title, toUpper, toLower, match and reReplaceAll as in template_test.go."""
        assert render('{{ "aa bb CC" | title }}', None) == "Aa Bb CC"
        assert render('{{ "aa bb CC" | toUpper }}', None) == "AA BB CC"
        assert render('{{ "aA bB CC" | toLower }}', None) == "aa bb cc"
        assert render('{{ match "a+" "aa" }} {{ match "a+" "b" }}', None) == "true false"
        assert render('{{ reReplaceAll "(a)b" "x$1" "ab" }}', None) == "xa"

    def test_missing_value_on_nil_data(self) -> None:
        """A field of nil data is no value, printed <no value> (missingkey=zero)."""
        assert render("{{ .Foo }}", None) == "<no value>"

    def test_error_position_as_go_reports_it(self) -> None:
        """An execution error names the line, the byte column and the failing command."""
        with pytest.raises(TemplateExecutionError) as caught:
            Template.parse('{{ "one" | humanizePercentage }}', "test").render(None)
        error = caught.value
        assert (error.line, error.column) == (1, 11 + len(PROMETHEUS_HEADER))  # Prometheus's columns
        assert error.node == "humanizePercentage"
        assert error.message == (
            'error calling humanizePercentage: strconv.ParseFloat: parsing "one": invalid syntax'
        )


class TestSyntax:
    def test_trim_markers_eat_all_whitespace_on_their_side(self) -> None:
        """{{- trims the text before (newlines too), -}} the text after; a comment may trim both."""
        assert render("a \n\t {{- 1 -}} \n b", None) == "a1b"
        assert render("a {{- /* note */ -}} b", None) == "ab"
        assert render("{{-3}}", None) == "-3"  # no space after the dash: a negative number

    def test_range_over_a_map_goes_in_key_order(self) -> None:
        """Maps are ranged in sorted key order, whatever order they were built in."""
        labels = {"zone": "z", "app": "a", "job": "j"}
        assert render("{{ range $k, $v := . }}{{ $k }}={{ $v }} {{ end }}", labels) == "app=a job=j zone=z "

    def test_range_over_a_list_with_index(self) -> None:
        """A list ranges with its index; one variable takes the element."""
        assert render("{{ range $i, $e := . }}{{ $i }}:{{ $e }} {{ end }}", ["a", "b"]) == "0:a 1:b "
        assert render("{{ range $e := . }}{{ $e }}{{ end }}", ["a", "b"]) == "ab"

    def test_else_with(self) -> None:
        """{{ else with }} (Go 1.23, Prometheus 3) chains like else if and sets dot."""
        text = "{{ with $labels.nope }}a{{ else with $labels.job }}b{{ . }}{{ else }}c{{ end }}"
        assert Template.parse(text).render(alert(1.0)) == "bj"

    def test_variables_scope_and_assignment(self) -> None:
        """A variable declared in a block ends with the block; = assigns to the outer one."""
        text = "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ $y }}{{ end }}{{ $x }}"
        assert render(text, None) == "32"

    def test_header_variables_come_from_the_alert(self) -> None:
        """$labels, $value, $externalLabels and $externalURL are the alert's, as Prometheus's header sets."""
        data = alert(2.5, external_labels={"cluster": "c1"}, external_url="http://prom:9090")
        text = "{{ $labels.job }} {{ $value }} {{ $externalLabels.cluster }} {{ $externalURL }} {{ $.Value }}"
        assert render(text, data) == "j 2.5 c1 http://prom:9090 2.5"

    def test_parse_once_render_many(self) -> None:
        """One parsed template renders different alerts independently."""
        template = Template.parse("{{ $labels.job }}={{ humanize $value }}", "t")
        assert template.render(alert(1500.0)) == "j=1.5k"
        assert template.render(alert(0.5, {"job": "api"})) == "api=500m"


class TestParseErrors:
    @pytest.mark.parametrize(
        ("text", "message", "line", "column"),
        [
            ("{{", "unclosed action", 1, 1),
            ("ok\n  {{ nosuch 1 }}", 'function "nosuch" not defined', 2, 6),
            ("{{ $nope }}", 'undefined variable "$nope"', 1, 4),
            ("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}", 'undefined variable "$y"', 1, 39),
            ("{{ $x = 1 }}", "undefined variable '$x'", 1, 4),
            ("{{ toUpper 1 2 }}", "wrong number of args for toUpper: want 1 got 2", 1, 4),
            ('{{ "a" | reReplaceAll "x" }}', "wrong number of args for reReplaceAll: want 3 got 2", 1, 10),
            ("{{ printf }}", "wrong number of args for printf: want at least 1 got 0", 1, 4),
            ("{{ print humanize }}", "wrong number of args for humanize: want 1 got 0", 1, 10),
            ("{{ (toUpper).x }}", "wrong number of args for toUpper: want 1 got 0", 1, 5),
            ("{{ if true }}x", "unexpected EOF in {{if}}", 1, 4),
            ("{{ end }}", "unexpected {{end}}", 1, 4),
            ("{{ break }}", "{{break}} outside {{range}}", 1, 4),
            ('{{ define "x" }}{{ end }}', "{{define}} is not supported in alert templates", 1, 4),
            ('{{ "a" | "b" }}', "non executable command in pipeline stage 2", 1, 10),
            ("{{ 1x }}", "bad number syntax: '1x'", 1, 4),
            ('{{ "abc }}', "unterminated quoted string", 1, 4),
            ('{{ "abc\n" }}', "unterminated quoted string", 1, 4),
            ("{{ `abc }}", "unterminated raw quoted string", 1, 4),
            ("{{ }}", "missing value for command", 1, 4),
            ("{{ /* c */ }}", "unrecognized character in action: U+002F '/'", 1, 4),
            ("{{/* c */ x}}", "comment ends before closing delimiter", 1, 8),
            ("{{ nil }}", "nil is not a command", 1, 4),
            ('{{ "x" | printf }}', "", 0, 0),
        ],
    )
    def test_reported_at_load_with_position(self, text: str, message: str, line: int, column: int) -> None:
        """Syntax errors, unknown names and wrong arities raise TemplateError at the 1-based position."""
        if not message:
            assert Template.parse(text).render(None) == "x"  # a piped value counts as the last argument
            return
        with pytest.raises(TemplateError) as caught:
            Template.parse(text, "rule")
        error = caught.value
        assert error.code == "VALIDATION_065"
        assert (error.template_line, error.template_column) == (line, column)
        assert error.message == f"template rule:{line}:{column}: {message}"

    def test_expand_of_text_raises_parse_errors(self) -> None:
        """expand() parses text it is given, and a parse error is raised, never hidden in the result."""
        with pytest.raises(TemplateError):
            expand("{{ humanise $value }}", alert(1.0))


class TestExecutionErrors:
    def test_expand_turns_the_error_into_the_result(self) -> None:
        """expand() gives Prometheus's <error expanding template: ...> text; render() raises."""
        template = Template.parse("{{ toUpper $value }}", "__alert_X")
        with pytest.raises(TemplateExecutionError, match="expected string; got float64"):
            template.render(alert(1.0))
        assert expand(template, alert(1.0)) == (
            "<error expanding template: error executing template __alert_X: template: __alert_X:1:123: "
            'executing "__alert_X" at <$value>: wrong type for value; expected string; got float64>'
        )

    def test_comparing_float_with_int_literal_fails_as_in_go(self) -> None:
        """gt $value 1 fails (float64 against int); 1.0 is the literal that works."""
        assert expand("{{ if gt $value 1.0 }}big{{ end }}", alert(5.0)) == "big"
        assert "incompatible types for comparison" in expand("{{ if gt $value 1 }}big{{ end }}", alert(5.0))

    def test_field_of_a_string_fails(self) -> None:
        """A field of a label value is an error naming the type."""
        assert expand("{{ $labels.job.x }}", alert(1.0)).endswith("can't evaluate field x in type string>")

    def test_range_over_a_number_fails(self) -> None:
        """range needs a map or a list."""
        assert "range can't iterate over 5" in expand("{{ range $value }}{{ end }}", alert(5.0))


TOKENS = [
    *("$labels", "$value", "$x", "$x :=", "$k, $v :=", "=", "|", "(", ")", ".", ".Labels", ".job", "if"),
    *("else", "end", "range", "with", "break", "continue", '"a"', '"', "`b`", "'a'", "1", "1.5", "-1e3"),
    *("humanize", "humanizeDuration", "printf", '"%d|%5.2f|%s"', "eq", "lt", "and", "or", "not", "index"),
    *("len", "nil", "true", "$", "x", '"\\u00e9"', "title", "toUpper", "reReplaceAll", "match", '"(a"'),
    *('"$1"', "/*", "*/", "-"),
]
TEXT = st.sampled_from(["a", " ", "\n", "{{", "}}", "-}}", "{{-"])
ACTION = st.lists(st.sampled_from(TOKENS), max_size=6).map(lambda tokens: "{{ " + " ".join(tokens) + " }}")


class TestRobustness:
    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.one_of(TEXT, ACTION, ACTION), max_size=8))
    def test_any_text_parses_or_raises_template_error(self, parts: list[str]) -> None:
        """Whatever the text, parsing gives a template or a TemplateError, rendering text or an execution
        error: never another exception (a user's template must not crash the rule engine)."""
        text = "".join(parts)
        try:
            template = Template.parse(text, "fuzz")
        except TemplateError:
            return
        assert isinstance(expand(template, alert(1.5)), str)  # execution errors become the text
