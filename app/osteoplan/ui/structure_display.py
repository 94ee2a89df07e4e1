"""What the views draw of a session's critical structures (labels, edits and automatic ones)."""

from __future__ import annotations

from dataclasses import dataclass

from osteoplan.core.display.label_colors import label_style
from osteoplan.core.imaging.volume import Volume
from osteoplan.core.session import PlanSession

# Shown as 3-D surfaces: what a needle must avoid, and the lesion (bone shows in the volume
# rendering; viscera and skin would hide the spine).
SURFACE_CATEGORIES = ("neural", "vascular", "lesion")


@dataclass(frozen=True, eq=False)
class StructureDisplay:
    labels: Volume  # one value per visible structure, on the CT grid
    styles: dict[int, tuple[tuple[float, float, float], float]]  # value -> (RGB, fill opacity)
    surface_colors: dict[int, tuple[float, float, float]]  # values drawn as 3-D surfaces

    @property
    def outline_colors(self) -> dict[int, tuple[float, float, float]]:
        """Structures with a visible fill also get an outline."""
        return {value: rgb for value, (rgb, opacity) in self.styles.items() if opacity > 0}


def structure_display(session: PlanSession | None) -> StructureDisplay | None:
    if session is None or not len(session.structures):
        return None
    array, names = session.structures.to_label_volume(session.case.ct, visible_only=True)
    by_name = {structure.name: structure for structure in session.structures}
    styles, surfaces = {}, {}
    for value, name in names.items():
        structure = by_name[name]
        # context tissues (fat, muscle) stay unfilled unless the user raises their opacity
        _, base_opacity = label_style(structure.base_name or structure.name)
        styles[value] = (tuple(structure.color), base_opacity * structure.opacity)
        if structure.category in SURFACE_CATEGORIES:
            surfaces[value] = tuple(structure.color)
    return StructureDisplay(session.case.ct.with_array(array), styles, surfaces)
