"""RAP: real-time audio-driven portrait animation with a video diffusion transformer."""

from rap.models import RAPTransformer, hybrid_alpha
from rap.pipelines import ClipPlan, LatentInheritance, MotionFrameConditioning, RAPClip, RAPPipeline
from rap.presets import PRESETS, get_preset

__all__ = [
    "RAPPipeline",
    "RAPTransformer",
    "RAPClip",
    "ClipPlan",
    "LatentInheritance",
    "MotionFrameConditioning",
    "PRESETS",
    "get_preset",
    "hybrid_alpha",
]
__version__ = "0.1.0"
