"""`make bench`: run every benchmark in turn; each writes bench-out/<name>.json with a top-level headline."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["int8_cpu", "stream", "multistream", "full_frame_agreement", "latency", "soak", "accuracy", "neck_ablation",
         "roofline"]
ARGS = {"soak": ["--minutes", "3"]}   # a shorter soak inside the full run; `python bench/soak.py` alone runs 10 min


def main(names: list[str]) -> int:
    names = names or ORDER
    unknown = [n for n in names if n not in ORDER]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {ORDER}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        print(f"== bench/{name}.py", flush=True)
        if subprocess.run([sys.executable, str(HERE / f"{name}.py"), *ARGS.get(name, [])]).returncode != 0:
            failed.append(name)
            continue
        out = Path("bench-out") / f"{name}.json"
        h = json.loads(out.read_text())["headline"]
        print(f"   {h['metric']} = {h['value']} {h.get('unit', '')} (goal {h.get('goal')})", flush=True)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
