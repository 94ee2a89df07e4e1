"""The built-in demo cases as ready-to-view `Case`s (generated once, then read from the cache)."""

from __future__ import annotations

import threading

from typing import TYPE_CHECKING

from osteoplan.core.errors import LoadError

if TYPE_CHECKING:  # the command line needs the demo names at start-up, not numpy and the Case
    from osteoplan.core.imaging.case import Case

DEMO_CASES = ("spine", "hip")
DEFAULT_DEMO = "spine"
DEMO_IMAGE_PREFIX = "demo:"  # a plan's image reference to a built-in case, e.g. "demo:spine"
DEMO_DESCRIPTIONS = {"spine": "L1–L3, lytic L2 metastasis", "hip": "proximal femur, femoral-neck lesion"}


def is_builtin_image(path_text: str) -> bool:
    return path_text.startswith(DEMO_IMAGE_PREFIX)


_loaded: dict[str, Case] = {}
_loaded_lock = threading.Lock()


def load_demo_case(name: str = DEFAULT_DEMO) -> Case:
    """The demo case (built once per machine, read once per process: the GUI starts reading it
    while its window is still being built)."""
    if name not in DEMO_CASES:
        raise LoadError(f"there is no built-in demo case {name!r}; the demo cases are {', '.join(DEMO_CASES)} "
                        f"(e.g. \"{DEMO_IMAGE_PREFIX}{DEMO_CASES[0]}\")", f"{DEMO_IMAGE_PREFIX}{name}")
    with _loaded_lock:
        if name not in _loaded:
            _loaded[name] = _read_demo_case(name)
        return _loaded[name]


def _read_demo_case(name: str) -> Case:
    # Imported here: the generator is only needed when a demo is opened, not at start-up.
    import numpy as np

    from osteoplan.core.imaging.case import Case
    from osteoplan.core.imaging.io import LabelMap
    from osteoplan.core.imaging.phantom import demo_case

    phantom = demo_case(name)
    return Case(
        ct=phantom.ct,
        labels=LabelMap(volume=phantom.labels, names=dict(phantom.label_names)),
        source=f"demo:{name}",
        focus_lps=np.asarray(phantom.landmarks["lesion_center"], dtype=float),
    )
