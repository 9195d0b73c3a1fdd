"""Inference: the RAP pipeline, its audio windows and its long-video strategies."""

from rap.pipelines.audio_features import AudioFeatureWindows, null_audio_features
from rap.pipelines.long_video import (
    ClipPlan,
    LatentInheritance,
    LongVideoStrategy,
    MotionFrameConditioning,
    make_strategy,
)
from rap.pipelines.pipeline_rap import RAPClip, RAPPipeline, RAPPipelineOutput

__all__ = [
    "AudioFeatureWindows",
    "ClipPlan",
    "LatentInheritance",
    "LongVideoStrategy",
    "MotionFrameConditioning",
    "RAPClip",
    "RAPPipeline",
    "RAPPipelineOutput",
    "make_strategy",
    "null_audio_features",
]
