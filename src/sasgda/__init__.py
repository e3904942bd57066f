"""sasgda: sparse-aware semantic-guided diffusion augmentation for surface-EMG gesture data.

Implements SASG-DA (Liu, Han, Xu, Wang, Qian, arXiv 2511.08344, IEEE JBHI 2026): a task-aware
classifier gives each window a semantic feature, a conditional 1D diffusion model generates
windows from such features (SRG), and new conditions are drawn from per-class Gaussians (GMSS)
and pushed into sparse regions (SASS) to make synthetic training data.
"""

__version__ = "0.1.0"
__all__ = ["SASGDA", "AugmentedDataset", "load_dataset"]


def __getattr__(name: str):
    # Imported on first use, so that `sasgda --help` does not wait for torch.
    if name in ("SASGDA", "load_dataset"):
        from sasgda import api

        return getattr(api, name)
    if name == "AugmentedDataset":
        from sasgda.augment.mixing import AugmentedDataset

        return AugmentedDataset
    raise AttributeError(f"module 'sasgda' has no attribute {name!r}")
