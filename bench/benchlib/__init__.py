"""Helpers the benchmarks share: statistics, a loopback HTTP load client, plain baseline apps, the stack."""

import sys
from pathlib import Path

# `tools.devstack` lives at the repository root, which `python bench/x.py` does not put on the path.
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))
