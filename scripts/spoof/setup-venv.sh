#!/usr/bin/env bash
# Python environment for the spoofing tools: the PyTorch reference of AASIST
# (parity fixtures), spoof generation (WORLD / Griffin-Lim copy-synthesis) and
# calibration fitting. Everything comes from PyPI; the venv is git-ignored.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m venv .venv-spoof
.venv-spoof/bin/pip install --quiet --upgrade pip
.venv-spoof/bin/pip install --quiet torch numpy scipy soundfile librosa pyworld "setuptools<81"  # pyworld imports pkg_resources
echo "ok: .venv-spoof ready"
