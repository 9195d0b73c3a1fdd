"""Networks: the RAP transformer, its hybrid audio attention, and the small preset's guided VAEs
(reference-guided, audio-guided)."""

from rap.models.autoencoder_audio import AudioGuidedAutoencoderKLLTXVideo
from rap.models.autoencoder_reference import ReferenceFeatures, ReferenceGuidedAutoencoderKLLTXVideo
from rap.models.hybrid_attention import HybridAudioAttnProcessor, hybrid_alpha, hybrid_alphas
from rap.models.transformer_rap import RAPTransformer

__all__ = [
    "RAPTransformer",
    "HybridAudioAttnProcessor",
    "hybrid_alpha",
    "hybrid_alphas",
    "ReferenceGuidedAutoencoderKLLTXVideo",
    "ReferenceFeatures",
    "AudioGuidedAutoencoderKLLTXVideo",
]
