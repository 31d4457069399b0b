"""``sspnet bench [NAME ...]``: run benchmarks from a source checkout (bench/ lives in the repository)."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="int8_cpu stream latency accuracy neck_ablation (default: all)")


def run(args: argparse.Namespace) -> int:
    runner = Path("bench/run_all.py")
    if not runner.is_file():
        print("bench/run_all.py not found: run 'sspnet bench' from the root of an sspnet-edge checkout",
              file=sys.stderr)
        return 2
    return subprocess.run([sys.executable, str(runner), *args.names]).returncode
