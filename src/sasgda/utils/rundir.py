"""The run directory: where every stage reads its inputs and writes its artifacts.

Layout (design.md section 2)::

    run/
      config.yaml  run_info.json            resolved config; versions, device, seed
      records/<stage>.json                  what each stage made (sasgda.stages)
      data/windows.npz                      x (N,C,L) float32, y, repetition, split, norm stats
      classifier/   model.safetensors config.json metrics.jsonl
      semantic/     features.npz
      generator/    model.safetensors ema.safetensors config.json state.pt
      synthetic/<strategy>.npz
      downstream/<backbone>-<augment>/      model + metrics.json
"""

from __future__ import annotations

import platform
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sasgda.utils.io import atomic_write_text, load_json_if, save_json


def generator_folder(condition: str) -> str:
    """The semantic generator lives in ``generator/``, the label baseline beside it."""
    return "generator" if condition == "semantic" else f"generator-{condition}"


class RunDir:
    """Paths of one run directory, and its ``run_info.json`` bookkeeping."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    # Paths of the artifacts; each stage owns one of these.
    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def run_info(self) -> Path:
        return self.root / "run_info.json"

    @property
    def windows(self) -> Path:
        return self.root / "data" / "windows.npz"

    @property
    def classifier(self) -> Path:
        return self.root / "classifier"

    @property
    def features(self) -> Path:
        return self.root / "semantic" / "features.npz"

    @property
    def generator(self) -> Path:
        return self.root / "generator"

    def generator_dir(self, condition: str) -> Path:
        return self.root / generator_folder(condition)

    def synthetic(self, strategy: str) -> Path:
        return self.root / "synthetic" / f"{strategy}.npz"

    def downstream(self, backbone: str, augment: str) -> Path:
        return self.root / "downstream" / f"{backbone}-{augment}"

    def require(self, path: Path, stage: str) -> Path:
        """``path`` if it exists, else an error saying which stage makes it."""
        if not path.exists():
            raise FileNotFoundError(f"{path}: not found; run `sasgda {stage}` on this run first")
        return path

    # Bookkeeping.
    def write_config(self, yaml_text: str) -> None:
        atomic_write_text(self.config, yaml_text)

    def info(self) -> dict[str, Any]:
        return load_json_if(self.run_info)

    def update_info(self, **values: Any) -> None:
        info = self.info()
        for key, value in values.items():
            if isinstance(value, dict) and isinstance(info.get(key), dict):
                info[key] = {**info[key], **value}
            else:
                info[key] = value
        save_json(self.run_info, info)

    def record_environment(self, seed: int, device: str) -> None:
        """Versions, device and seed: what someone needs to reproduce the numbers."""
        import numpy
        import scipy
        import sklearn
        import torch

        import sasgda

        self.update_info(
            seed=seed,
            device=device,
            versions={
                "sasgda": sasgda.__version__,
                "python": platform.python_version(),
                "torch": torch.__version__,
                "numpy": numpy.__version__,
                "scipy": scipy.__version__,
                "scikit-learn": sklearn.__version__,
            },
            platform=platform.platform(),
        )


def linked_run(base: RunDir, dest: Path, links: Sequence[str]) -> RunDir:
    """A run folder whose ``links`` (paths inside a run) point to ``base``'s, with a copy of its
    bookkeeping so that the linked stages count as done."""
    for rel in links:
        target = dest / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to((base.root / rel).resolve())
    for name in ("run_info.json", "config.yaml"):
        if not (dest / name).exists():
            shutil.copy2(base.root / name, dest / name)
    if not (dest / "records").exists():
        shutil.copytree(base.root / "records", dest / "records")
    return RunDir(dest)
