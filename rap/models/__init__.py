"""Networks: the RAP transformer and its hybrid audio attention."""

from rap.models.hybrid_attention import HybridAudioAttnProcessor, hybrid_alpha, hybrid_alphas
from rap.models.transformer_rap import RAPTransformer

__all__ = ["RAPTransformer", "HybridAudioAttnProcessor", "hybrid_alpha", "hybrid_alphas"]
