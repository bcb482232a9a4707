"""Explanation benchmark: `.venv/bin/python bench/explain_bench.py [--rows 50000 1000000]`.

Times ``explain.explain_outputs`` (the surrogate, its fidelity, permutation importances overall and per group of
two sensitive attributes) on the monitoring benchmark's synthetic evaluation (20 numeric and 5 categorical
features; the score computed from x00, x01 and c0), at each row count, against a plain ``pandas.read_csv`` of
the same rows in the same run. Above ``explain.MAX_ROWS`` the explanation reads a sample, so its time should
stay flat while the read grows.
The target: a few seconds (at most 5 s) at 50,000 rows on this 2-core machine.
"""

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from monitoring_bench import CATEGORICAL, NUMERIC, SENSITIVE, generate  # noqa: E402

from apps.monitoring import explain  # noqa: E402

ROUNDS = 3
TARGET_SECONDS = 5.0


def measure(rows: int) -> dict:
    frame = generate(rows, seed=0, shift=0.0)
    # The benchmark's score follows the label; here the model computes it from three features, as a model would.
    frame["y_score"] = (1 / (1 + np.exp(-(frame.x00 + 0.5 * frame.x01 + (frame.c0 == "c0_0"))))).round(6)
    text = frame.to_csv(index=False)
    reads, runs = [], []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        pd.read_csv(io.StringIO(text))
        reads.append(time.perf_counter() - started)
        started = time.perf_counter()
        result = explain.explain_outputs(frame, features=[*NUMERIC, *CATEGORICAL], output="y_score",
                                         output_kind="score", sensitive=list(SENSITIVE))
        runs.append(time.perf_counter() - started)
    return {"rows": rows, "explain": statistics.median(runs), "read": statistics.median(reads),
            "fidelity": result["fidelity"]["value"], "top": result["importances"][0]["feature"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[50_000, 1_000_000])
    args = parser.parse_args()
    print("| rows | explain (median of 3) | pandas.read_csv | ratio | fidelity (R²) | top feature | "
          f"< {TARGET_SECONDS:g} s |")
    print("|---|---|---|---|---|---|---|")
    for rows in args.rows:
        found = measure(rows)
        verdict = "PASS" if found["explain"] < TARGET_SECONDS else "FAIL"
        ratio = found["explain"] / found["read"]
        print(f"| {rows:,} | {found['explain']:.2f} s | {found['read']:.2f} s | {ratio:.1f}x "
              f"| {found['fidelity']:.3f} | {found['top']} | {verdict} |")


if __name__ == "__main__":
    main()
