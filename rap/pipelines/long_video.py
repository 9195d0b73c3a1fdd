"""Long videos: how clips are laid out in time and how clip i is tied to clip i-1.

`ClipPlan` is the arithmetic of Algorithm 2: clips of F latent frames (1 + r_f*(F-1) video
frames) advance by r_f*(F-n) frames, and every clip after the first drops its first
r_f*(n-1)+1 decoded frames (Algorithm 2, line 13), so that the kept frames tile the timeline
exactly once.

Strategies (swappable, same interface):

* `LatentInheritance` -- the paper's motion-frame-free inference (Algorithm 2, line 5): at every
  denoising step t of clip i, its first n latents are the last n latents of clip i-1 *at the same
  step t*. Only n latents per step are kept, so memory does not grow with the video.
* `MotionFrameConditioning` -- the baseline the paper compares against (Fig. 6a): the final clean
  latents of clip i-1 are a hard condition for clip i; they are reset at every step and carry
  timestep 0 (the transformer accepts one timestep per latent frame for this).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ClipSpan:
    index: int
    clip_start: int  # global frame of the clip's decoded frame 0
    keep_from: int  # first decoded frame kept (local)
    keep_to: int  # one past the last decoded frame kept (local)

    @property
    def global_start(self) -> int:
        return self.clip_start + self.keep_from

    @property
    def global_end(self) -> int:
        return self.clip_start + self.keep_to

    @property
    def num_frames(self) -> int:
        return self.keep_to - self.keep_from


@dataclass(frozen=True)
class ClipPlan:
    total_frames: int
    latent_frames: int = 11  # F
    frames_per_latent: int = 8  # r_f
    overlap: int = 3  # n

    def __post_init__(self):
        if self.total_frames < 1:
            raise ValueError("a video needs at least one frame")
        if not 1 <= self.overlap < self.latent_frames:
            raise ValueError(f"overlap n must be between 1 and {self.latent_frames - 1}, got {self.overlap}")

    @property
    def clip_frames(self) -> int:
        return 1 + self.frames_per_latent * (self.latent_frames - 1)

    @property
    def stride(self) -> int:
        return self.frames_per_latent * (self.latent_frames - self.overlap)

    @property
    def dropped_frames(self) -> int:
        """Algorithm 2, line 13: decoded frames dropped from every clip after the first."""
        return self.frames_per_latent * (self.overlap - 1) + 1

    @property
    def num_clips(self) -> int:
        if self.total_frames <= self.clip_frames:
            return 1
        return 1 + math.ceil((self.total_frames - self.clip_frames) / self.stride)

    def span(self, index: int) -> ClipSpan:
        start = index * self.stride
        keep_from = 0 if index == 0 else self.dropped_frames
        keep_to = min(self.clip_frames, self.total_frames - start)
        return ClipSpan(index, start, keep_from, keep_to)

    def spans(self) -> list[ClipSpan]:
        return [self.span(i) for i in range(self.num_clips)]


class LongVideoStrategy:
    """Hooks called by the denoising loop; `reset` before a new video."""

    name = "base"

    def __init__(self, overlap: int):
        self.overlap = overlap
        self.reset()

    def reset(self) -> None:
        pass

    def prepare_step(
        self, clip_index: int, step_index: int, latents: torch.Tensor, timestep: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the latents and timestep (scalar, or one per latent frame) the model sees at this step."""
        return latents, timestep

    def finish_clip(self, clip_index: int, latents: torch.Tensor) -> torch.Tensor:
        """Called with x_{i,0}; returns the latents to decode."""
        return latents


class LatentInheritance(LongVideoStrategy):
    """Algorithm 2: soft guidance by the previous clip's intermediate noisy latents."""

    name = "inheritance"

    def reset(self) -> None:
        self._previous: list[torch.Tensor] = []  # x_{i-1,t}[:, -n:] for every step t
        self._current: list[torch.Tensor] = []

    def prepare_step(self, clip_index, step_index, latents, timestep):
        n = self.overlap
        if clip_index > 0:  # line 5: x_{i,t} = Concat(x_{i-1,t}[:, -n:], x_{i,t}[:, n:])
            latents = torch.cat([self._previous[step_index], latents[:, :, n:]], dim=2)
        self._current.append(latents[:, :, -n:].clone())
        return latents, timestep

    def finish_clip(self, clip_index, latents):
        self._previous, self._current = self._current, []
        return latents


class MotionFrameConditioning(LongVideoStrategy):
    """Baseline: hard conditioning on the previous clip's final clean latents (paper, Fig. 6a top)."""

    name = "motion_frames"

    def reset(self) -> None:
        self._motion: torch.Tensor | None = None

    def _apply(self, latents: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._motion, latents[:, :, self.overlap :]], dim=2)

    def prepare_step(self, clip_index, step_index, latents, timestep):
        if clip_index == 0:
            return latents, timestep
        per_frame = timestep.reshape(1).expand(latents.shape[2]).clone()
        per_frame[: self.overlap] = 0.0  # the condition is clean
        return self._apply(latents), per_frame

    def finish_clip(self, clip_index, latents):
        if clip_index > 0:
            latents = self._apply(latents)
        self._motion = latents[:, :, -self.overlap :].clone()
        return latents


LONG_VIDEO_STRATEGIES = {cls.name: cls for cls in (LatentInheritance, MotionFrameConditioning)}


def make_strategy(name: str, overlap: int) -> LongVideoStrategy:
    try:
        return LONG_VIDEO_STRATEGIES[name](overlap)
    except KeyError:
        raise ValueError(f"unknown long-video strategy {name!r}; choose one of: {', '.join(LONG_VIDEO_STRATEGIES)}") from None
