"""Where a pipeline comes from: the bundled small model, a folder, a hub id, or a preset.

Every route ends in the same `RAPPipeline` class; `pipe.weights_source` records which weights
were loaded so that benchmarks and the app can say it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from rap.presets import PRESETS, get_preset

logger = logging.getLogger(__name__)

BUNDLED_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "rap-small"


class WeightsNotFoundError(FileNotFoundError):
    pass


def load_vae(path, **kwargs):
    """A VAE folder of any class the presets use (plain LTX, reference- or audio-guided), by its saved config."""
    import json

    from diffusers import AutoencoderKLLTXVideo

    from rap.models.autoencoder_audio import AudioGuidedAutoencoderKLLTXVideo
    from rap.models.autoencoder_reference import ReferenceGuidedAutoencoderKLLTXVideo

    saved = json.loads((Path(path) / "config.json").read_text()).get("_class_name")
    classes = {c.__name__: c for c in (ReferenceGuidedAutoencoderKLLTXVideo, AudioGuidedAutoencoderKLLTXVideo)}
    return classes.get(saved, AutoencoderKLLTXVideo).from_pretrained(path, **kwargs)


def build_from_preset(cls, name, pretrained_components=False, local_files_only=True, torch_dtype=torch.float32):
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    from rap.models.autoencoder_audio import AudioGuidedAutoencoderKLLTXVideo
    from rap.models.autoencoder_reference import ReferenceGuidedAutoencoderKLLTXVideo
    from rap.models.transformer_rap import RAPTransformer

    preset = get_preset(name)

    def pretrained(load, source, **kwargs):
        try:
            return load(source, local_files_only=local_files_only, dtype=torch_dtype, **kwargs)
        except (OSError, ValueError) as error:
            raise WeightsNotFoundError(
                f"pretrained weights for preset {name!r} were not found ({source}"
                + (", offline" if local_files_only else "")
                + "). Download them to the Hugging Face cache or pass a local folder."
            ) from error

    if pretrained_components and preset.vae_pretrained:
        vae = pretrained(AutoencoderKLLTXVideo.from_pretrained, preset.vae_pretrained, subfolder="vae")
    elif preset.reference_guided_vae:
        vae = ReferenceGuidedAutoencoderKLLTXVideo(**preset.vae)
    elif preset.audio_guided_vae is not None:
        vae = AudioGuidedAutoencoderKLLTXVideo(**preset.vae, audio_dim=preset.audio_feature_dim, **preset.audio_guided_vae)
    else:
        vae = AutoencoderKLLTXVideo(**preset.vae)
    if pretrained_components and preset.audio_encoder_pretrained:
        audio_encoder = pretrained(Wav2Vec2Model.from_pretrained, preset.audio_encoder_pretrained)
    else:
        audio_encoder = Wav2Vec2Model(Wav2Vec2Config(**preset.audio_encoder))
    transformer = RAPTransformer(**preset.transformer)
    scheduler = FlowMatchEulerDiscreteScheduler(**preset.scheduler)
    if torch_dtype != torch.float32:
        vae, transformer, audio_encoder = vae.to(torch_dtype), transformer.to(torch_dtype), audio_encoder.to(torch_dtype)
    pipe = cls(
        vae=vae,
        transformer=transformer,
        audio_encoder=audio_encoder.eval(),
        scheduler=scheduler,
        resolution=preset.resolution,
        fps=preset.fps,
        latent_frames=preset.latent_frames,
        audio_layers=preset.audio_layers,
        default_steps=preset.defaults["num_inference_steps"],
        preset=preset.name,
    )
    pipe.weights_source = "random (untrained transformer" + (")" if pretrained_components else ", VAE and audio encoder)")
    return pipe


def load_pipeline(cls, source=None, torch_dtype=torch.float32, local_files_only=True, allow_random=False):
    """Resolve `source` to a pipeline.

    None -> the bundled small model (or, with `allow_random`, a random rap-small if it is absent);
    a folder with model_index.json; a preset name (random weights, needs `allow_random`); a hub id
    (needs network unless cached).
    """
    if source is None:
        if (BUNDLED_MODEL_DIR / "model_index.json").is_file():
            source = BUNDLED_MODEL_DIR
        elif allow_random:
            logger.warning("no trained weights at %s; using a random rap-small", BUNDLED_MODEL_DIR)
            return build_from_preset(cls, "rap-small", torch_dtype=torch_dtype)
        else:
            raise WeightsNotFoundError(
                f"the bundled model was not found at {BUNDLED_MODEL_DIR}; pass a pipeline folder, or allow "
                "untrained weights (--allow-random on the command line, allow_random=True in Python)"
            )
    source_str = str(source)
    if source_str in PRESETS:
        if not allow_random:
            raise WeightsNotFoundError(
                f"{source_str!r} is a preset, not trained weights; pass allow_random=True to build it untrained"
            )
        return build_from_preset(cls, source_str, torch_dtype=torch_dtype)
    path = Path(source_str).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise WeightsNotFoundError(f"{path} is not a pipeline folder (no model_index.json)")
        pipe = cls.from_pretrained(str(path), dtype=torch_dtype)
        pipe.weights_source = str(path)
        return pipe
    if path.suffix or source_str.startswith((".", "/", "~")):
        raise WeightsNotFoundError(f"no pipeline folder at {path}")
    try:
        pipe = cls.from_pretrained(source_str, dtype=torch_dtype, local_files_only=local_files_only)
    except (OSError, ValueError) as error:
        raise WeightsNotFoundError(
            f"weights {source_str!r} were found neither as a local folder nor as a hub id"
            + (" in the local cache (offline)" if local_files_only else "")
        ) from error
    pipe.weights_source = source_str
    return pipe
