"""The ``pipeline`` section: a batched data pipeline's stages, buffer, retries and dead-letter file.

The check makes sure every batch fits the buffer that feeds it.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from sharedconfig.config.modules import SettingsModule, module_check
from sharedconfig.config.policies import RetrySettings, policy_check, retry_field
from sharedconfig.config.types import (
    NonEmptyStr,
    PositiveDuration,
    PositiveInt,
    Settings,
)
from sharedconfig.config.validation import PERFORMANCE, ValidationContext

__all__ = ["PipelineRetrySettings", "PipelineSettings", "StageSettings", "module"]


class StageSettings(Settings):
    """One stage of the pipeline."""

    name: NonEmptyStr = Field(description="Stage name, used in metrics and logs.")
    enabled: bool = Field(True, description="Run the stage (a disabled stage passes items through).")
    workers: PositiveInt = Field(1, description="Batches processed at once.")
    batch_size: PositiveInt | None = Field(None, description="Items per batch; defaults to the pipeline's.")
    timeout: PositiveDuration = Field(timedelta(seconds=30), description="Time one batch may take.")


class PipelineRetrySettings(RetrySettings, defaults={"max_retries": 3}):
    """Retries of a failed batch: the shared vocabulary, three retries by default."""


class PipelineSettings(Settings):
    """The ``pipeline`` section."""

    stages: tuple[StageSettings, ...] = Field((), description="Stages, in processing order.")
    buffer_size: PositiveInt = Field(10000, description="Items held between the source and the stages.")
    batch_size: PositiveInt = Field(100, description="Items per batch; at most buffer_size.")
    flush_interval: PositiveDuration = Field(
        timedelta(seconds=5), description="Longest wait before a partial batch is processed."
    )
    retry: PipelineRetrySettings = retry_field(
        PipelineRetrySettings, what="a failed batch before it is dead-lettered"
    )
    dead_letter_path: str | None = Field(
        None, description="File where failed items are written; unset drops them and counts the drops."
    )


@module_check("pipeline", "pipeline.batch_fits_buffer", PERFORMANCE)
def check_batches(settings: PipelineSettings, ctx: ValidationContext) -> None:
    """A batch larger than the pipeline buffer can never fill (VALIDATION_020)."""
    if settings.batch_size > settings.buffer_size:
        ctx.report(
            "VALIDATION_020",
            ("pipeline", "batch_size"),
            f"pipeline.batch_size {settings.batch_size} is larger than buffer_size {settings.buffer_size}",
        )
    for i, stage in enumerate(settings.stages):
        if stage.batch_size is not None and stage.batch_size > settings.buffer_size:
            ctx.report(
                "VALIDATION_020",
                ("pipeline", "stages", i, "batch_size"),
                f"stage {stage.name!r}: batch_size {stage.batch_size} is larger than the pipeline's "
                f"buffer_size {settings.buffer_size}",
            )


module: SettingsModule[PipelineSettings] = SettingsModule(
    name="pipeline",
    schema=PipelineSettings,
    validators=(check_batches, policy_check("pipeline")),
    description="A batched data pipeline: stages, buffering, retries and a dead-letter file.",
)
