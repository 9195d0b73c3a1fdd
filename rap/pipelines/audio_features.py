"""Audio features per latent frame: waveform -> Wav2Vec2 hidden states -> (F, r_f, N, C).

Layout, chosen here where the paper is silent:

* Video frame k covers samples [k*S, (k+1)*S) with S = sample_rate / fps (640 at 16 kHz, 25 fps).
* Latent frame j of a clip starting at frame s stands for video frames s+r_f*j-r_f+1 ... s+r_f*j,
  the frames the causal VAE folds into it (its last frame is s+r_f*j). For the first latent of a
  clip, which the VAE encodes from the single frame s, this is frame s and the r_f-1 frames before
  it: the preceding speech in later clips, silence (zero samples) before the start of the audio.
  Every latent frame thus gets exactly r_f*N audio tokens, as the window attention needs.
* Features are computed clip by clip over the clip's window plus `context_frames` on each side,
  so memory does not grow with the audio; Wav2Vec2's 50 Hz frames are linearly resampled to fps.
* Wav2Vec2FeatureExtractor would normalise each window by its own statistics, so a quiet window
  would be blown up; the whole utterance's mean and variance are measured once and used for every
  window instead, which is what the encoder sees when it reads a whole utterance.
* That standard deviation is floored at `MIN_SPEECH_STD` (-46 dBFS RMS, a whisper well below any
  speech recording the model was trained on): otherwise a silent upload, a microphone's hiss alone,
  is scaled up to the loudness of speech and reads as noise-like "speech".
* The unconditional audio for CFG, and for the 10% audio dropout in training, is all-zero
  features (`null_audio_features`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


MIN_SPEECH_STD = 0.005


def null_audio_features(features: torch.Tensor) -> torch.Tensor:
    """The 'no audio' condition shared by CFG at inference and audio dropout in training."""
    return torch.zeros_like(features)


class AudioFeatureWindows:
    def __init__(
        self,
        audio_encoder: torch.nn.Module,
        layers: tuple[int, ...],
        fps: int = 25,
        frames_per_latent: int = 8,
        sample_rate: int = 16000,
        context_frames: int = 8,
    ):
        if sample_rate % fps:
            raise ValueError(f"sample rate {sample_rate} is not a whole number of samples per frame at {fps} fps")
        self.audio_encoder = audio_encoder
        self.layers = tuple(layers)
        self.fps = fps
        self.frames_per_latent = frames_per_latent
        self.samples_per_frame = sample_rate // fps
        self.context_frames = context_frames
        self._mean = 0.0
        self._std = 1.0

    def set_utterance(self, waveform: np.ndarray) -> None:
        """Measure the normalisation statistics of the whole waveform once."""
        self._mean = float(waveform.mean())
        self._std = max(float(np.sqrt(waveform.var() + 1e-7)), MIN_SPEECH_STD)

    def _samples(self, waveform: np.ndarray, first_frame: int, num_frames: int) -> np.ndarray:
        start = first_frame * self.samples_per_frame
        stop = (first_frame + num_frames) * self.samples_per_frame
        out = np.zeros(stop - start, dtype=np.float32)
        lo, hi = max(start, 0), min(stop, len(waveform))
        if hi > lo:
            out[lo - start : hi - start] = (waveform[lo:hi] - self._mean) / self._std
        return out

    @torch.no_grad()
    def encode(self, waveform: np.ndarray, first_frame: int, num_frames: int) -> torch.Tensor:
        """Features of video frames [first_frame, first_frame + num_frames): (1, num_frames, N, C)."""
        ctx = self.context_frames
        samples = self._samples(waveform, first_frame - ctx, num_frames + 2 * ctx)
        param = next(self.audio_encoder.parameters())
        inputs = torch.from_numpy(samples)[None].to(device=param.device, dtype=param.dtype)
        hidden = self.audio_encoder(inputs, output_hidden_states=True).hidden_states
        stacked = torch.stack([hidden[i] for i in self.layers], dim=2)  # (1, T50, N, C)
        per_frame = F.interpolate(
            stacked.flatten(2).transpose(1, 2).float(), size=num_frames + 2 * ctx, mode="linear", align_corners=False
        )
        per_frame = per_frame.transpose(1, 2).unflatten(2, stacked.shape[2:])[:, ctx : ctx + num_frames]
        return per_frame.to(param.dtype)

    def for_clip(self, waveform: np.ndarray, clip_start: int, latent_frames: int) -> torch.Tensor:
        """(1, F, r_f, N, C) features of the clip whose decoded frame 0 is global frame `clip_start`."""
        r = self.frames_per_latent
        features = self.encode(waveform, clip_start - r + 1, r * latent_frames)
        return features.unflatten(1, (latent_frames, r))
