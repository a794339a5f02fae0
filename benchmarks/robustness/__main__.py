"""``python -m benchmarks.robustness``: :func:`benchmarks.robustness.main`."""

from benchmarks.robustness.cli import main

if __name__ == "__main__":
    print(f"wrote {main()}")
