"""Tests for the pipeline settings and the batch-fits-buffer check."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from sharedconfig.config.policies import RetrySettings
from sharedconfig.config.validation import Issue, ValidationContext, run_pipeline
from sharedconfig.errors import Location
from sharedconfig.pipeline.settings import PipelineSettings, module


class NoProvenance:
    """Stand-in for ``Provenance``: nothing has a known location."""

    def locate(self, path: tuple[str | int, ...]) -> Location | None:
        """No location for any path."""
        return None


def check(data: dict[str, Any]) -> list[Issue]:
    """Validate ``data`` and run the module's checks; return the issues."""
    ctx = ValidationContext(
        {"pipeline": data},
        NoProvenance(),  # type: ignore[arg-type]
        modules={"pipeline": module.validate(data)},
    )
    run_pipeline(module.validators, ctx)
    return ctx.issues


class TestSchema:
    """Defaults and stage settings."""

    def test_defaults(self) -> None:
        """An empty section is a valid pipeline with no stages."""
        settings = PipelineSettings()
        assert settings.stages == ()
        assert settings.batch_size <= settings.buffer_size
        assert module.validate({}) == settings
        assert check({}) == []

    def test_stages(self) -> None:
        """Stages parse in order with their own workers, batch sizes and timeouts."""
        settings = module.validate(
            {
                "stages": [
                    {"name": "parse", "workers": 4},
                    {"name": "store", "batch_size": 50, "timeout": "1m"},
                ]
            }
        )
        assert [s.name for s in settings.stages] == ["parse", "store"]
        assert settings.stages[0].batch_size is None
        assert settings.stages[1].timeout == timedelta(minutes=1)

    @pytest.mark.parametrize(
        "data",
        [
            {"stages": [{"name": "a", "workers": 0}]},
            {"stages": [{"workers": 1}]},
            {"batch_size": 0},
            {"retry": {"max_retries": -1}},
            {"max_retries": 3},
            {"flush_interval": "soon"},
        ],
    )
    def test_invalid(self, data: dict[str, Any]) -> None:
        """Zero workers, nameless stages, empty batches, negative retries, the old flat max_retries key and
        bad durations are errors."""
        with pytest.raises(ValidationError):
            module.validate(data)

    def test_json_schema(self) -> None:
        """The schema is valid draft 2020-12, and every class in it is named ``*Settings``."""
        schema = PipelineSettings.model_json_schema()
        jsonschema.Draft202012Validator.check_schema(schema)
        assert all(name.endswith("Settings") for name in schema["$defs"])


class TestRetry:
    """A failed batch is retried in the shared vocabulary."""

    def test_three_retries_by_default(self) -> None:
        """The pipeline keeps its three retries; the other keys take the vocabulary's defaults."""
        retry = PipelineSettings().retry
        assert retry.max_retries == 3
        assert retry.model_dump() == RetrySettings(max_retries=3).model_dump()

    def test_partial_block_keeps_pipeline_defaults(self) -> None:
        """Writing one key of ``retry`` leaves the pipeline's own default of the others in place."""
        retry = module.validate({"retry": {"retry_delay": "2s"}}).retry
        assert (retry.max_retries, retry.retry_delay) == (3, timedelta(seconds=2))

    def test_delay_above_cap_is_reported(self) -> None:
        """The shared policy check reports a retry_delay above max_retry_delay at pipeline.retry."""
        issues = check({"retry": {"retry_delay": "1m", "max_retry_delay": "5s"}})
        assert [(i.code, i.severity, i.path) for i in issues] == [
            ("VALIDATION_021", "warning", "pipeline.retry.retry_delay")
        ]


class TestBatchFitsBuffer:
    """VALIDATION_020: batches larger than the pipeline buffer."""

    def test_pipeline_batch(self) -> None:
        """The pipeline's own batch larger than its buffer is an error."""
        issues = check({"buffer_size": 100, "batch_size": 500})
        assert [(i.code, i.severity, i.path) for i in issues] == [
            ("VALIDATION_020", "error", "pipeline.batch_size")
        ]

    def test_stage_batch(self) -> None:
        """A stage batch larger than the pipeline buffer is an error at that stage."""
        issues = check(
            {
                "buffer_size": 100,
                "batch_size": 10,
                "stages": [{"name": "a"}, {"name": "b", "batch_size": 200}],
            }
        )
        assert [(i.code, i.path) for i in issues] == [("VALIDATION_020", "pipeline.stages.1.batch_size")]
        assert "'b'" in issues[0].message
