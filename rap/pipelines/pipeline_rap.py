"""RAPPipeline: reference portrait + speech -> talking-portrait video, streamed clip by clip.

Inference is Algorithm 2 of the paper: each clip is denoised with rectified flow (Eq. 1-2) on
diffusers' `FlowMatchEulerDiscreteScheduler`, with audio classifier-free guidance by a diffusers
guider (`rap.pipelines.guidance`; the conditional and unconditional passes share one batch), and
tied to the previous clip by a swappable long-video strategy (`LatentInheritance` by default).
Clips are yielded as soon as they are decoded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from diffusers import AutoencoderKLLTXVideo, DiffusionPipeline, FlowMatchEulerDiscreteScheduler
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from diffusers.video_processor import VideoProcessor

from rap.media.audio import SAMPLE_RATE, AudioError, load_audio
from rap.media.image import prepare_portrait
from rap.models.autoencoder_audio import AudioGuidedAutoencoderKLLTXVideo
from rap.models.autoencoder_reference import ReferenceFeatures, ReferenceGuidedAutoencoderKLLTXVideo
from rap.models.transformer_rap import RAPTransformer
from rap.pipelines.audio_features import AudioFeatureWindows, null_audio_features
from rap.pipelines.guidance import make_audio_guider
from rap.pipelines.long_video import ClipPlan, make_strategy


@dataclass
class RAPClip:
    """One decoded clip: its new frames and exactly the audio samples they cover."""

    index: int
    num_clips: int
    frames: np.ndarray  # uint8 (T, H, W, 3)
    audio: np.ndarray  # float32 mono, T * sample_rate / fps samples
    start_frame: int  # global index of frames[0]
    fps: int
    sample_rate: int
    timings: dict[str, float] = field(default_factory=dict)  # denoise_s, decode_s, elapsed_s


@dataclass
class RAPPipelineOutput(BaseOutput):
    frames: np.ndarray  # uint8 (T, H, W, 3)
    audio: np.ndarray  # float32 mono
    fps: int
    sample_rate: int
    clips: list[dict]  # per-clip timings


class RAPPipeline(DiffusionPipeline):
    """Components: `vae` (LTX-Video VAE, or its reference- or audio-guided form), `transformer`
    (RAPTransformer), `audio_encoder` (transformers Wav2Vec2Model), `scheduler`
    (FlowMatchEulerDiscreteScheduler)."""

    model_cpu_offload_seq = "audio_encoder->transformer->vae"

    def __init__(
        self,
        vae: AutoencoderKLLTXVideo,
        transformer: RAPTransformer,
        audio_encoder,
        scheduler: FlowMatchEulerDiscreteScheduler,
        resolution: int = 512,
        fps: int = 25,
        latent_frames: int = 11,
        audio_layers: list = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12),
        default_steps: int = 25,
        decode_timestep: float = 0.05,
        decode_noise_scale: float = 0.025,
        preset: str = "custom",
    ):
        super().__init__()
        self.register_modules(vae=vae, transformer=transformer, audio_encoder=audio_encoder, scheduler=scheduler)
        self.register_to_config(
            resolution=resolution,
            fps=fps,
            latent_frames=latent_frames,
            audio_layers=list(audio_layers),
            default_steps=default_steps,
            decode_timestep=decode_timestep,
            decode_noise_scale=decode_noise_scale,
            preset=preset,
        )
        self.video_processor = VideoProcessor(vae_scale_factor=vae.spatial_compression_ratio)
        self.weights_source = "unknown"  # set by the loaders: a folder, a hub id, or "random"

    # ------------------------------------------------------------------ helpers
    @property
    def frames_per_latent(self) -> int:
        return self.vae.temporal_compression_ratio

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    def _normalize_latents(self, latents: torch.Tensor) -> torch.Tensor:
        mean = self.vae.latents_mean.view(1, -1, 1, 1, 1).to(latents)
        std = self.vae.latents_std.view(1, -1, 1, 1, 1).to(latents)
        return (latents - mean) * self.vae.config.scaling_factor / std

    def _denormalize_latents(self, latents: torch.Tensor) -> torch.Tensor:
        mean = self.vae.latents_mean.view(1, -1, 1, 1, 1).to(latents)
        std = self.vae.latents_std.view(1, -1, 1, 1, 1).to(latents)
        return latents * std / self.vae.config.scaling_factor + mean

    def _portrait_pixels(self, portrait) -> torch.Tensor:
        """(1, 3, 1, H, W) in [-1, 1], on the VAE's device and dtype.

        diffusers' processor reads a numpy image as floats in [0, 1], so a uint8 frame (how video
        decoders and the training data hand frames over) is scaled here first; left as it is, it
        became pixels up to 509 and a reference latent unlike the one a PIL portrait gives.
        """
        if isinstance(portrait, np.ndarray) and portrait.dtype == np.uint8:
            portrait = portrait.astype(np.float32) / 255.0
        pixels = self.video_processor.preprocess(portrait, height=self.config.resolution, width=self.config.resolution)
        return pixels.to(self._execution_device, self.vae.dtype).unsqueeze(2)

    @property
    def reference_guided_decoder(self) -> bool:
        return isinstance(self.vae, ReferenceGuidedAutoencoderKLLTXVideo)

    @property
    def audio_guided_decoder(self) -> bool:
        return isinstance(self.vae, AudioGuidedAutoencoderKLLTXVideo)

    @staticmethod
    def decoder_audio(features: torch.Tensor) -> torch.Tensor:
        """A clip's features per latent frame (B, F, r_f, N, C) -> per decoded frame (B, 1 + r_f(F-1), N, C).

        Decoded frame 0 is the first latent's own frame (the last of its window, `AudioFeatureWindows`);
        the later latents' windows are exactly the r_f frames each decodes to."""
        return torch.cat([features[:, 0, -1:], features[:, 1:].flatten(1, 2)], dim=1)

    @torch.no_grad()
    def encode_reference(self, portrait) -> torch.Tensor:
        """x_ref: the portrait repeated over a clip's frames and encoded (paper, 'RAP' section).

        The encoder is causal in time with replicate padding, so a still clip encodes to the same
        latent at every position: one frame is encoded and repeated over the clip's latent frames,
        81x less work than encoding the repeated clip (identical to 2e-6 on random weights).
        """
        latent = self._normalize_latents(self.vae.encode(self._portrait_pixels(portrait)).latent_dist.mode())
        return latent.expand(-1, -1, self.config.latent_frames, -1, -1)

    @torch.no_grad()
    def encode_decoder_reference(self, portrait) -> ReferenceFeatures | None:
        """What a reference-guided VAE's decoder takes from the portrait, once per stream (None for
        a plain LTX VAE, which decodes from latents alone)."""
        if not self.reference_guided_decoder:
            return None
        return self.vae.encode_reference(self._portrait_pixels(portrait))

    @torch.no_grad()
    def decode_latents(
        self,
        latents: torch.Tensor,
        generator: torch.Generator | None = None,
        reference: ReferenceFeatures | None = None,
        audio_features: torch.Tensor | None = None,
    ) -> np.ndarray:
        """Latents -> uint8 frames (T, H, W, 3); LTX-0.9.1-style decoders get their timestep and noise,
        a reference-guided decoder its `encode_decoder_reference` output, an audio-guided decoder
        the clip's audio features (`AudioFeatureWindows.for_clip`, (1, F, r_f, N, C); latents of
        fewer frames take the first ones)."""
        if self.reference_guided_decoder and reference is None:
            raise ValueError("this pipeline's VAE is reference-guided: pass reference=pipe.encode_decoder_reference(portrait)")
        if self.audio_guided_decoder and audio_features is None:
            raise ValueError("this pipeline's VAE is audio-guided: pass audio_features= (the clip's, AudioFeatureWindows.for_clip)")
        latents = self._denormalize_latents(latents).to(self.vae.dtype)
        timestep = None
        if self.vae.config.timestep_conditioning:
            noise = randn_tensor(latents.shape, generator=generator, device=latents.device, dtype=latents.dtype)
            scale = self.config.decode_noise_scale
            latents = (1 - scale) * latents + scale * noise
            timestep = torch.full((latents.shape[0],), self.config.decode_timestep, device=latents.device, dtype=latents.dtype)
        guidance = {} if reference is None else {"reference": reference}
        if self.audio_guided_decoder:
            per_frame = self.decoder_audio(audio_features[:, : latents.shape[2]])
            guidance["audio"] = per_frame.to(latents.device, self.vae.dtype)
        video = self.vae.decode(latents, timestep, return_dict=False, **guidance)[0]
        frames = self.video_processor.postprocess_video(video.float(), output_type="np")[0]
        return (frames * 255.0).round().astype(np.uint8)

    def _predict_velocity(self, latents, ref_latents, timestep, audio_tokens, guider, w, delta):
        """M(Concat(x_t, x_ref), t, c_a), guided by `guider` when audio_tokens hold the conditional and
        the null audio (one batch); with the conditional audio alone, its prediction."""
        model_input = torch.cat([latents, ref_latents], dim=1).to(self.transformer.dtype)
        batch = audio_tokens.shape[0]
        model_input = model_input.expand(batch, -1, -1, -1, -1)
        timestep = timestep.reshape(1, -1).expand(batch, -1)
        velocity = self.transformer(
            model_input, timestep, audio_tokens=audio_tokens, hybrid_weight=w, hybrid_bias=delta, return_dict=False
        )[0].float()
        if batch == 1:
            return velocity
        cond, uncond = velocity.chunk(2)
        return guider.forward(cond, uncond).pred

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def stream(
        self,
        image,
        audio,
        num_inference_steps: int | None = None,
        guidance_scale: float = 5.0,
        guidance: str = "cfg",
        guidance_stop: float = 1.0,
        overlap: int = 3,
        hybrid_weight: float | None = None,
        hybrid_bias: float | None = None,
        shift: float | None = None,
        seed: int | None = 0,
        generator: torch.Generator | None = None,
        long_video: str = "inheritance",
        crop: str = "face",
        max_seconds: float | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Iterator[RAPClip]:
        """Yield `RAPClip`s in order as each is decoded.

        image: path / PIL / array; audio: path / (rate, samples) / 16 kHz array. guidance_scale is the
        audio CFG scale (1 disables the unconditional pass), guidance how it is applied ("cfg", the
        paper's, or "tangential") and guidance_stop the fraction of the steps, from the first, that
        are guided (1, the paper's: all; `rap.pipelines.guidance`); overlap is n of Algorithm 2;
        hybrid_weight and hybrid_bias are w and delta of Eq. 7 (None: the transformer's own: the scope
        a Table 3 model was trained with, the paper's w = 1, delta = 0 otherwise); crop is "face",
        "auto", "center" or "none".
        stop, if given, is asked before every denoising step and before every decode; when it
        returns True the stream ends there (a Stop button frees the worker within one step).
        """
        started = time.perf_counter()
        device = self._execution_device
        steps = num_inference_steps or self.config.default_steps
        if steps < 1:
            raise ValueError("num_inference_steps must be at least 1")
        guider = make_audio_guider(guidance, guidance_scale, guidance_stop)  # checks both before any work

        # 1. Speech: mono 16 kHz, a whole number of video frames long
        fps = self.config.fps
        samples_per_frame = SAMPLE_RATE // fps
        waveform = load_audio(audio, SAMPLE_RATE, min_seconds=1.0 / fps)
        if max_seconds is not None and len(waveform) > max_seconds * SAMPLE_RATE:
            raise AudioError(f"the audio lasts {len(waveform) / SAMPLE_RATE:.1f} s; the limit is {max_seconds:.0f} s")
        total_frames = max(1, round(len(waveform) / samples_per_frame))
        waveform = np.pad(waveform, (0, max(0, total_frames * samples_per_frame - len(waveform))))[
            : total_frames * samples_per_frame
        ]

        # 2. Clip plan (Algorithm 2) and long-video strategy
        plan = ClipPlan(total_frames, self.config.latent_frames, self.frames_per_latent, overlap)
        strategy = make_strategy(long_video, overlap)

        # 3. Reference latent x_ref (and, for a reference-guided VAE, the decoder's reference features)
        portrait = prepare_portrait(image, self.config.resolution, crop=crop)
        ref_latents = self.encode_reference(portrait)
        decoder_reference = self.encode_decoder_reference(portrait)

        # 4. Audio features, noise generator and timesteps
        audio_windows = AudioFeatureWindows(
            self.audio_encoder, tuple(self.config.audio_layers), fps, self.frames_per_latent, SAMPLE_RATE
        )
        audio_windows.set_utterance(waveform)
        if generator is None:
            generator = torch.Generator(device="cpu").manual_seed(0 if seed is None else seed)
        # a scheduler of this stream's own, so that concurrent streams on one pipeline keep their step counts
        scheduler = self.scheduler.__class__.from_config(
            self.scheduler.config, **({} if shift is None else {"shift": shift})
        )
        use_cfg = guidance_scale != 1.0

        # 5. Clips: denoise (Algorithm 2, lines 2-9), decode and trim (lines 10-14), yield
        for span in plan.spans():
            clip_started = time.perf_counter()
            features = audio_windows.for_clip(waveform, span.clip_start, self.config.latent_frames)
            speech_features = features  # what an audio-guided decoder hears: the speech, never the null audio
            if use_cfg:
                features = torch.cat([features, null_audio_features(features)])
            audio_tokens = self.transformer.encode_audio(features.to(device))

            latents = randn_tensor(ref_latents.shape, generator=generator, device=device, dtype=torch.float32)
            scheduler.set_timesteps(steps, device=device)
            for step_index, t in enumerate(scheduler.timesteps):
                if stop is not None and stop():
                    return
                latents, model_t = strategy.prepare_step(span.index, step_index, latents, t.float())
                guider.set_state(step_index, steps, t)
                step_tokens = audio_tokens if guider.num_conditions > 1 else audio_tokens[:1]
                velocity = self._predict_velocity(
                    latents, ref_latents, model_t, step_tokens, guider, hybrid_weight, hybrid_bias
                )
                latents = scheduler.step(velocity, t, latents, return_dict=False)[0]
            latents = strategy.finish_clip(span.index, latents)
            denoised = time.perf_counter()
            if stop is not None and stop():
                return

            frames = self.decode_latents(latents, generator, decoder_reference, speech_features)
            frames = frames[span.keep_from : span.keep_to]
            clip_audio = waveform[span.global_start * samples_per_frame : span.global_end * samples_per_frame]
            finished = time.perf_counter()
            yield RAPClip(
                index=span.index,
                num_clips=plan.num_clips,
                frames=frames,
                audio=clip_audio,
                start_frame=span.global_start,
                fps=fps,
                sample_rate=SAMPLE_RATE,
                timings={
                    "denoise_s": denoised - clip_started,
                    "decode_s": finished - denoised,
                    "elapsed_s": finished - started,
                },
            )

    def __call__(self, image, audio, **kwargs) -> RAPPipelineOutput:
        """The whole video at once (for short inputs; `stream` keeps memory flat for long ones)."""
        clips = list(self.stream(image, audio, **kwargs))
        return RAPPipelineOutput(
            frames=np.concatenate([c.frames for c in clips]),
            audio=np.concatenate([c.audio for c in clips]),
            fps=clips[0].fps,
            sample_rate=clips[0].sample_rate,
            clips=[dict(index=c.index, start_frame=c.start_frame, num_frames=len(c.frames), **c.timings) for c in clips],
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_preset(
        cls,
        name: str = "rap-small",
        pretrained_components: bool = False,
        local_files_only: bool = True,
        torch_dtype: torch.dtype = torch.float32,
    ) -> "RAPPipeline":
        """Build a pipeline from a preset with random weights, or, with `pretrained_components`,
        the preset's pretrained VAE and audio encoder (paper scale: LTX-VAE 0.9.1, Wav2Vec2-base)."""
        from rap.loading import build_from_preset

        return build_from_preset(cls, name, pretrained_components, local_files_only, torch_dtype)

    @classmethod
    def load(cls, source: str | Path | None = None, **kwargs) -> "RAPPipeline":
        """A pipeline folder, hub id or preset name; None means the bundled small model."""
        from rap.loading import load_pipeline

        return load_pipeline(cls, source, **kwargs)
