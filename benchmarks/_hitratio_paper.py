"""The anchor table of /work/shared/traces/README.md (hit %, published or exact).

``ARC`` is from the ARC paper / an exact simulator, ``WTINYLFU`` is Caffeine 2.3's
fixed-window W-TinyLFU read from its published charts (None where not published;
ranges are stored as their midpoint).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

# (trace, size): (LRU, FIFO, ARC, W-TinyLFU or None, OPT)
ANCHORS: Dict[Tuple[str, int], Tuple[float, float, float, Optional[float], float]] = {
    ("oltp", 1000): (32.83, 28.53, 38.95, 35.5, 53.62),
    ("oltp", 2000): (42.47, 37.44, 46.08, 42.1, 60.40),
    ("oltp", 5000): (53.65, 49.68, 55.25, 52.5, 68.27),
    ("oltp", 10000): (60.70, 57.29, 61.87, 59.4, 73.02),
    ("glimpse", 500): (0.95, 0.95, 1.38, 33.1, 34.33),
    ("glimpse", 1000): (11.21, 11.14, 21.31, 49.3, 53.15),
    ("glimpse", 2000): (57.41, 47.90, 57.41, 58.0, 57.96),
    ("loop", 250): (0.00, 0.00, 0.00, None, 24.68),
    ("loop", 500): (0.00, 0.00, 0.00, 43.7, 49.36),
    ("multi3", 500): (32.65, 24.91, 36.35, None, 48.90),
    ("multi3", 1000): (37.70, 32.97, 44.41, None, 56.29),
    ("sprite", 100): (21.58, 22.30, 25.66, 31.3, 50.91),
    ("sprite", 400): (70.77, 66.14, 70.02, 68.8, 84.56),
    ("sprite", 1000): (90.64, 87.24, 89.70, 82.9, 93.24),
    ("2_pools", 99): (21.77, 19.21, 46.47, None, 50.63),
    ("2_pools", 497): (51.02, 42.63, 51.86, None, 62.81),
    ("web12", 300): (49.01, 46.10, 51.41, 49.1, 66.85),
    ("web12", 1200): (66.85, 62.96, 69.40, 69.3, 79.12),
    ("scarab", 10000): (48.65, 45.13, 52.33, 52.3, 66.57),
    ("scarab", 100000): (75.91, 73.14, 76.08, 72.0, 79.25),
}


def paper_jobs() -> List[Tuple[str, List[int]]]:
    """Return the README table as ``[(trace name, [sizes...]), ...]`` in table order."""
    out: Dict[str, List[int]] = {}
    for trace, size in ANCHORS:
        out.setdefault(trace, []).append(size)
    return list(out.items())
