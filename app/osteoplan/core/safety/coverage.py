"""Which hazard categories a verdict measured, and why the others were not: a plan with no
neural or vascular structure must never read as safe ("No stop warning" alone would say so).

A category is *checked* when at least one of its structures has voxels and a threshold in force
in the context (needle; ablation for the skin). Otherwise it is *unchecked*, with the reason the
structures' builder gave (`StructureSet.unchecked`: e.g. the automatic anatomy found no spine),
or one said here. A category the builder says is covered only in part is in both lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from osteoplan.core.safety.structures import StructureSet

NEEDLE_HAZARDS = ("neural", "vascular", "visceral")  # what a needle, cement or a zone must keep away from
ABLATION_HAZARDS = ("skin",)  # measured against ablation zones only

DEFAULT_REASONS = {
    "neural": "no spinal canal, cord or nerve structure: none in the label map and none found automatically",
    "vascular": "no aorta, IVC or other vessel: none in the label map and none found automatically",
    "visceral": "no lung, bowel or other organ structure: none in the label map and none found automatically",
    "skin": "no skin structure: none in the label map and the automatic skin is switched off",
}


@dataclass(frozen=True)
class HazardCoverage:
    checked: tuple[str, ...]
    unchecked: tuple[tuple[str, str], ...]  # (category, reason)

    @property
    def complete(self) -> bool:
        return not self.unchecked

    def to_json(self) -> dict:
        """The ``hazards`` object of ``osteoplan check --json``."""
        return {"checked": list(self.checked),
                "unchecked": [{"category": category, "reason": reason} for category, reason in self.unchecked]}

    def lines(self) -> list[str]:
        """One ``Not checked: vascular (reason)`` line per unchecked category."""
        return [f"Not checked: {category} ({reason})" for category, reason in self.unchecked]


def hazard_coverage(structures: StructureSet, categories: Iterable[str] = NEEDLE_HAZARDS,
                    reasons: Mapping[str, str] | None = None) -> HazardCoverage:
    """Which of `categories` have a measurable structure; `reasons` (category -> why it is missing)
    override the generic reasons (default: the set's own `unchecked`)."""
    reasons = dict(structures.unchecked if reasons is None else reasons)
    checked, unchecked = [], []
    for category in categories:
        members = [s for s in structures.of_category(category) if s.voxel_count > 0]
        context = "ablation" if category in ABLATION_HAZARDS else "needle"
        if any(s.thresholds(context).evaluated for s in members):
            checked.append(category)
            if category in reasons:  # checked only in part (e.g. the cord labelled, the canal below it not found)
                unchecked.append((category, reasons[category]))
        elif members:
            unchecked.append((category, f"the thresholds of {', '.join(s.name for s in members[:3])} are switched off"))
        else:
            unchecked.append((category, reasons.get(category, DEFAULT_REASONS.get(category, "no structure"))))
    return HazardCoverage(tuple(checked), tuple(unchecked))
