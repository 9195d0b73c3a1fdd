"""Training: Algorithm 1 and the composite flow-matching loss (Eq. 3)."""

from rap.training.objective import (
    ObjectiveConfig,
    TrainingBatch,
    composite_flow_matching_loss,
    sample_training_batch,
    training_loss,
)

__all__ = ["ObjectiveConfig", "TrainingBatch", "composite_flow_matching_loss", "sample_training_batch", "training_loss"]
