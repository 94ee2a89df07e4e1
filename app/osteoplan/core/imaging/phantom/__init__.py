"""Built-in synthetic demo CT cases ("phantoms") with exact ground truth.

Two cases, generated deterministically (seeded noise) on an axis-aligned LPS grid:

- ``"spine"``: an adult lumbar abdomen around L1-L3 (the ends of T12 and L4 included), a
  lytic metastasis in the L2 body breaking its posterior wall into the canal.
- ``"hip"``: a left proximal femur in its acetabulum, a lytic femoral-neck lesion.

Each `PhantomCase` carries the CT (int16 HU), a uint8 label map on the same grid with
TotalSegmentator-style names, and named ground-truth points (LPS mm). Geometric ground
truth that is not a point (pedicle axes and widths, femoral axes) is exported as
constants: `pedicle_axes()`, `PEDICLE_HALF_WIDTH_MM`, `NECK_AXIS_DIRECTION`, ...
"""

from __future__ import annotations

from pathlib import Path

from .cache import cached_case
from .generate import *  # noqa: F403 - the package's public names live in generate
from .generate import __all__ as _generate_all
from .generate import DEFAULT_SPACING_MM, PhantomCase, check_case

__all__ = [*_generate_all, "demo_case"]


def demo_case(case: str = "spine", cache_dir: Path | None = None) -> PhantomCase:
    """The case at the default spacing, read from the on-disk cache (built and cached on a miss).

    The cache lives in `cache_dir`, else in ``$OSTEOPLAN_CACHE_DIR/phantoms``, else in the
    per-user cache folder (``platformdirs.user_cache_dir("osteoplan")/phantoms``).
    """
    return cached_case(check_case(case), DEFAULT_SPACING_MM, cache_dir)
