"""Audio classifier-free guidance, through diffusers' guiders.

The paper guides the audio with plain CFG at scale 5 on every denoising step, the unconditional
branch seeing the null audio of `null_audio_features`; that is mode "cfg", the default. Where the
paper is silent, two alternatives from `diffusers.guiders` are offered as a knob, because CFG on
this project's small model opens the mouth over room noise (guidance pushes the mouth past
"closed", and the decoder draws that as open):

* "interval": CFG on the first half of the steps only (the first floor(steps / 2), diffusers'
  rounding) and the conditional prediction alone after
  (guidance in a limited interval, Kynkaanniemi et al. 2024). The late steps skip the
  unconditional pass, a quarter less DiT work at 6 steps.
* "tangential": tangential CFG (Sun et al. 2025), which projects the unconditional prediction
  onto the main direction it shares with the conditional one (the top singular vector of the
  pair) before guiding, dropping the rest.

Measured on the bundled model, 8 held-out clips, CFG 5 (docs/training_log.md): lip sync 0.359 /
0.388 / 0.392 and mouth opening over room noise 0.236 / 0.161 / 0.166 for cfg / interval /
tangential.
"""

from __future__ import annotations

import logging

from diffusers.guiders import ClassifierFreeGuidance, TangentialClassifierFreeGuidance
from diffusers.guiders.guider_utils import BaseGuidance


GUIDANCE_MODES = ("cfg", "interval", "tangential")

# the guiders announce that their API is experimental each time one is built (once per stream
# here); diffusers is pinned to a minor release in requirements.txt, so the notice says nothing new
logging.getLogger("diffusers.guiders.guider_utils").setLevel(logging.ERROR)


def make_audio_guider(mode: str, guidance_scale: float) -> BaseGuidance:
    """A fresh guider for one stream (guiders hold the step they are at, so streams do not share one)."""
    if mode == "cfg":
        return ClassifierFreeGuidance(guidance_scale=guidance_scale)
    if mode == "interval":
        return ClassifierFreeGuidance(guidance_scale=guidance_scale, stop=0.5)
    if mode == "tangential":
        return TangentialClassifierFreeGuidance(guidance_scale=guidance_scale)
    raise ValueError(f"unknown guidance {mode!r}; choose one of {', '.join(GUIDANCE_MODES)}")
