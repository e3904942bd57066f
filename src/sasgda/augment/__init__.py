"""Classic augmentation baselines and the mixing of real with extra (synthetic) windows."""

from sasgda.augment.classic import (
    CLASSIC_AUGMENTATIONS,
    channel_rotation,
    classic_augment,
    jitter,
    magnitude_warp,
    mixup,
    permutation,
    scaling,
    time_warp,
    window_slice,
    window_warp,
)
from sasgda.augment.mixing import (
    AugmentedDataset,
    balanced_indices,
    mix,
    n_extra,
    select_synthetic,
)


def downstream_methods() -> tuple[str, ...]:
    """What a downstream model can be trained with: the real windows alone, a classic
    augmentation, or a synthetic set of one of the strategies."""
    # Imported here: the strategies' module loads the sampler, which `sasgda.augment` (and
    # `from sasgda import AugmentedDataset`) does not need.
    from sasgda.semantic.synthesis import STRATEGIES

    return ("none", *CLASSIC_AUGMENTATIONS, *STRATEGIES)


__all__ = [
    "AugmentedDataset",
    "CLASSIC_AUGMENTATIONS",
    "balanced_indices",
    "channel_rotation",
    "classic_augment",
    "downstream_methods",
    "jitter",
    "magnitude_warp",
    "mix",
    "mixup",
    "n_extra",
    "permutation",
    "scaling",
    "select_synthetic",
    "time_warp",
    "window_slice",
    "window_warp",
]
