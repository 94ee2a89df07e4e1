"""Validation: how far needle-to-structure distances are from the truth, before and after exact distances.

Run:  .venv/bin/python tests/validation/distance_bias.py [--needles 20] [--seed 0]

For each voxel size x shape of tests/core/safety/test_distance_bias.py (sphere, cylinder, oblique
half-space, oblique cylinder, cylinder on an obliquely oriented CT grid; 0.5, 1.5, 3 mm and thin-slice
0.75 x 0.75 x 2.5 mm) and for the real labelled 3 mm CT (spinal cord, aorta), random needles near the
structure are measured three ways: the brute-force truth (capsule to the voxels as full boxes), the
field-based distance used before (least signed-distance-field value along the axis - radius) and the
reported one (`needle_structure_distances`). Prints mean / max of (value - true) over the needles
clear of the structure (positive: flattering), and exits 1 when a reported distance overstates by more
than 0.25 mm, understates by more than half a voxel, or a needle entering a structure is not negative.
Not collected by pytest.
"""

from __future__ import annotations

import argparse
import sys
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "app"), str(REPO)]

import numpy as np  # noqa: E402

from osteoplan.core.safety.distances import DistanceFields  # noqa: E402
from osteoplan.core.safety.structures import Structure  # noqa: E402
from tests.conftest import SHARED_DATA  # noqa: E402
from tests.core.safety.test_distance_bias import (  # noqa: E402
    BIAS_CASES, OVERSTATE_MM, Comparison, compare, random_needles, real_ct_structures)

HEADER = (f"{'case':34s} {'n':>3s} {'x':>2s}  {'before mean':>11s} {'max':>6s}  {'after mean':>10s} {'max':>6s} "
          f"{'min':>6s}  verdict")


def row(label: str, spacing, result: Comparison) -> tuple[str, bool]:
    """One table line and whether the reported distances meet the bounds."""
    half_voxel = max(spacing) / 2.0
    before, after = result.field_bias, result.bias
    crossing = result.axis < result.radius - 0.02
    ok = bool(after.max() <= OVERSTATE_MM and -after.min() <= half_voxel and np.all(result.reported[crossing] < 0))
    line = (f"{label:34s} {len(after):3d} {int(crossing.sum()):2d}  {before.mean():+11.3f} {before.max():+6.3f}  "
            f"{after.mean():+10.3f} {after.max():+6.3f} {after.min():+6.3f}  {'ok' if ok else 'MISSED'}")
    return line, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--needles", type=int, default=20, help="needles clear of each structure")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(__doc__.splitlines()[0])
    print("value - true (mm) over needles clear of the structure; n: those, x: needles entering it; "
          f"bounds: max <= +{OVERSTATE_MM} mm, min >= -half a voxel\n")
    print(HEADER)
    all_ok = True
    for case in BIAS_CASES:
        grid = case.grid()
        mask = case.mask(grid)
        needles = random_needles(grid, mask, seed=zlib.crc32(case.label.encode()) + args.seed)
        result = compare(grid, mask, Structure.from_mask("spinal_cord", mask), needles, DistanceFields(grid),
                         outside=args.needles, tries=40 * args.needles)
        line, ok = row(case.label, case.spacing, result)
        all_ok &= ok
        print(line, flush=True)
    if (SHARED_DATA / "ct_abdomen_3mm_labels").exists():
        grid, structures = real_ct_structures()
        fields = DistanceFields(grid)
        for name, structure in structures.items():
            mask = structure.mask
            needles = random_needles(grid, mask, seed=zlib.crc32(name.encode()) + args.seed)
            result = compare(grid, mask, structure, needles, fields, outside=2 * args.needles,
                             tries=80 * args.needles)
            line, ok = row(f"real CT 3 mm: {name}", grid.spacing, result)
            all_ok &= ok
            print(line, flush=True)
    else:
        print(f"real CT rows skipped: {SHARED_DATA / 'ct_abdomen_3mm_labels'} is absent")
    print("\nall bounds met" if all_ok else "\nA BOUND WAS MISSED")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
