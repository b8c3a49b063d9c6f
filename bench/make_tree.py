#!/usr/bin/env python3
"""Writes a deterministic tree of N small files (default 20,000) for the layer benchmarks."""
import os
import random
import sys

def main():
    root, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    rng = random.Random(42)
    per_dir = 100
    blob = os.urandom(65536)
    for i in range(count):
        d = os.path.join(root, f"d{i // per_dir // 20:03d}", f"s{i // per_dir:04d}")
        if i % per_dir == 0:
            os.makedirs(d, exist_ok=True)
        size = rng.choice([0, 100, 512, 1024, 2048, 4096, 8192, 16384])
        off = rng.randrange(0, 65536 - size + 1)
        with open(os.path.join(d, f"f{i:05d}"), "wb") as f:
            f.write(blob[off:off + size])
    os.symlink("d000/s0000/f00000", os.path.join(root, "link"))

if __name__ == "__main__":
    main()
