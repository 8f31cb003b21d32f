#!/usr/bin/env bash
# The GPU check in one command, for a machine with a GPU: the WebGPU adapter, our training steps
# at batch 30 and 128 on webgpu, the tutorial's PyTorch code on CUDA where torch sees a GPU (and
# the ratios), and with --full the tutorial's 60 epochs on webgpu. ./run installs Deno and the
# npm packages first. Flags: bench/gpu_check.sh --help.
set -euo pipefail
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/run" bench:gpu "$@"
