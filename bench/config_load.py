"""Benchmark: load + validate the production monitoring YAML with two env overrides, against anchors.

Anchors in the same run: pydantic-settings as shipped, Dynaconf, and a floor (CSafeLoader + model_validate).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from _common import Case, case, print_table, timeit_best, write_results

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "config" / "monitoring-production.yaml"
SECRETS = {
    "DATADOG_API_KEY": "dd-bench-0123456789abcdef",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/bench",
}
ENV = {
    "SHAREDCONFIG_MONITORING__SAMPLE_RATE": "0.2",
    "SHAREDCONFIG_MONITORING__EVENTS__BATCH_SIZE": "200",
    **SECRETS,
}
REPEAT = 5
MEASURE_SECONDS = 1.5  # wall time aimed at for each measure (REPEAT runs together)


def import_schema() -> type[Any]:
    """MonitoringSettings, after checking that every installed module imports (load() needs them all)."""
    from sharedconfig.config.modules import discover
    from sharedconfig.monitoring.settings import MonitoringSettings

    discover()
    return MonitoringSettings


def measure(fn: Callable[[], Any]) -> float:
    """Milliseconds per call, with ``number`` chosen so that the whole measure takes ~MEASURE_SECONDS."""
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-6)
    number = max(1, int(MEASURE_SECONDS / REPEAT / once))
    return timeit_best(fn, number=number, repeat=REPEAT) * 1000.0


def leaf_count(value: Any) -> int:
    """Walk a plain tree and count its leaves (so every value is really read)."""
    if isinstance(value, Mapping):
        return sum(leaf_count(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(leaf_count(v) for v in value)
    return 1


def make_ours() -> Callable[[], Any]:
    """``sharedconfig.config.load`` as shipped: provenance, ${VAR} interpolation, env, validator pipeline."""
    from sharedconfig.config import load

    files = [str(CONFIG)]

    def run() -> Any:
        return load(files, environ=ENV, env_file=None)

    return run


def make_pydantic_settings(schema: type[Any]) -> Callable[[], Any]:
    """pydantic-settings as shipped: init, env (prefix + ``__`` nesting), then the YAML file.

    pydantic-settings does not interpolate ``${VAR}``. A literal ``${DATADOG_API_KEY}`` would pass (a plain
    secret string), but the schema types ``webhook_url`` as a URL, so the literal ``${SLACK_WEBHOOK_URL}``
    is rejected. The smallest fix a pydantic-settings user would write is below: the shipped YAML source
    (still the pure-Python ``yaml.safe_load`` it ships with) with ``os.path.expandvars`` on the text first.
    """
    from pydantic_settings import (
        BaseSettings,
        PydanticBaseSettingsSource,
        SettingsConfigDict,
        YamlConfigSettingsSource,
    )

    class ExpandingYamlSource(YamlConfigSettingsSource):
        def _read_file(self, file_path: Any) -> dict[str, Any]:
            with file_path.open(encoding="utf-8") as f:
                return yaml.safe_load(os.path.expandvars(f.read())) or {}

    class BenchSettings(BaseSettings):
        model_config = SettingsConfigDict(
            yaml_file=CONFIG, env_prefix="SHAREDCONFIG_", env_nested_delimiter="__"
        )
        monitoring: schema  # type: ignore[valid-type]

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, ExpandingYamlSource(settings_cls))

    return BenchSettings


def make_dynaconf() -> Callable[[], Any]:
    """Dynaconf: construct (it loads lazily) and read every leaf through ``as_dict()``.

    Dynaconf has no schema here (untyped values) and does not interpolate ``${VAR}`` either.
    """
    from dynaconf import Dynaconf

    files = [str(CONFIG)]

    def run() -> int:
        settings = Dynaconf(settings_files=files, envvar_prefix="SHAREDCONFIG", environments=False)
        return leaf_count(settings.as_dict())

    return run


def make_floor(schema: type[Any]) -> Callable[[], Any]:
    """The floor: read the file, CSafeLoader, substitute the two ${...} strings and the two overrides,
    then ``model_validate`` the section; no provenance, no pipeline."""

    def run() -> Any:
        data = yaml.load(CONFIG.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        section = data["monitoring"]
        section["metrics"]["exporters"][1]["api_key"] = SECRETS["DATADOG_API_KEY"]
        section["alerts"]["notifications"][0]["webhook_url"] = SECRETS["SLACK_WEBHOOK_URL"]
        section["sample_rate"] = 0.2
        section["events"]["batch_size"] = 200
        return schema.model_validate(section)

    return run


def check_equivalent(ours: Any, pyset: Any, dyna: int, floor: Any) -> None:
    """Every contender must see the overrides, or the comparison means nothing."""
    got = {
        "ours": (ours.monitoring.sample_rate, ours.monitoring.events.batch_size),
        "pydantic-settings": (pyset.monitoring.sample_rate, pyset.monitoring.events.batch_size),
        "floor": (floor.sample_rate, floor.events.batch_size),
    }
    for name, value in got.items():
        if value != (0.2, 200):
            raise SystemExit(f"{name} did not apply the overrides: {value}")
    if dyna < 40:
        raise SystemExit(f"dynaconf read only {dyna} leaves")


def validate_command_ms(runs: int = 5) -> float:
    """Wall time (ms) of ``sharedconfig validate`` as a subprocess, best of ``runs``."""
    exe = Path(sys.executable).parent / "sharedconfig"
    argv = [str(exe), "validate", str(CONFIG.relative_to(ROOT))]
    env = {**os.environ, **SECRETS}
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        best = min(best, time.perf_counter() - start)
        if done.returncode != 0:
            print(f"warning: validate exited {done.returncode}: {done.stdout}{done.stderr}", file=sys.stderr)
    return best * 1000.0


def main() -> int:
    """Measure every contender, write bench/results/config_load.json and print the table."""
    schema = import_schema()
    ours_fn, pyset_fn = make_ours(), make_pydantic_settings(schema)
    dyna_fn, floor_fn = make_dynaconf(), make_floor(schema)
    check_equivalent(ours_fn(), _with_environ(pyset_fn), _with_environ(dyna_fn), floor_fn())

    ours = measure(ours_fn)
    pyset = _with_environ(lambda: measure(pyset_fn))
    dyna = _with_environ(lambda: measure(dyna_fn))
    floor = measure(floor_fn)
    command = validate_command_ms()

    cases: list[Case] = [
        case(
            "load_validate_vs_pydantic_settings",
            "ms/op",
            ours,
            anchor="pydantic-settings",
            anchor_value=pyset,
            target_ratio=0.4,
        ),
        case(
            "load_validate_vs_floor",
            "ms/op",
            ours,
            anchor="yaml.load(CSafeLoader) + model_validate",
            anchor_value=floor,
            target_ratio=2.0,
        ),
        case("dynaconf", "ms/op", ours, anchor="Dynaconf", anchor_value=dyna),
        case("validate_command", "ms", command, target=600.0),
    ]
    path = write_results("config_load", cases)
    print_table(cases)
    print(f"\nwrote {path.relative_to(ROOT)}")
    return 0


def _with_environ(fn: Callable[[], Any]) -> Any:
    """Call ``fn`` with the benchmark's variables in ``os.environ`` (the anchors read only from there)."""
    saved = {name: os.environ.get(name) for name in ENV}
    os.environ.update(ENV)
    try:
        return fn()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


if __name__ == "__main__":
    sys.exit(main())
