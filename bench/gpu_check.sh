#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: the CUDA tests, then a short generator throughput bench that
# writes bench/results/gpu.md. About 5 minutes. Run from the project root after the README's
# set-up (torch with CUDA).
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else \
'torch sees no CUDA device: install a CUDA build of torch')"
python -m pytest -q tests/gpu tests/unit/test_precision.py
timeout 240 python bench/gpu_throughput.py --device cuda --out bench/results/gpu.md
