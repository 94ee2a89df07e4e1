"""The content of a plan report, as plain data: sections of key/value lists, tables, warnings
and the images to render. `ui/report_pdf.py` lays it out as a PDF; this module knows no Qt.

Every number comes from the functions the command line prints: `plan_check.check_plan`
(readouts and every warning, `osteoplan check --json`), `ablation_warnings.simulate_report`
(`osteoplan simulate ablation --json`) and `cement_session.injection_report`
(`osteoplan simulate cement --json`), so a report never disagrees with them.

De-identified by default: without `identify` the report holds no patient name, ID, birth
or study date, and no file path (folder and file names often carry the patient's name); the
image's content hash still ties it to the CT.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

from osteoplan import __version__
from osteoplan.core.imaging.demo import is_builtin_image
from osteoplan.core.imaging.identity import dicom_date, identity_mismatch, person_name
from osteoplan.core.planning.readouts import describe_tip
from osteoplan.core.safety.structures import automatic_structures
from osteoplan.core.safety.warnings import SEVERITY_ORDER, Severity

Tone = Literal["", "stop", "warn", "info", "ok"]
DASH = "–"
MAX_STRUCTURES_PER_ABLATION = 8  # the nearest ones; the rest are far from the zone


# --- the content model --------------------------------------------------------------------
@dataclass(frozen=True)
class Paragraph:
    text: str
    tone: Tone = ""


@dataclass(frozen=True)
class KeyValues:
    rows: tuple[tuple[str, str], ...]
    tones: dict[str, Tone] = field(default_factory=dict)  # key -> tone of its value


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    align: str = ""  # one letter per column, "l" or "r" (numbers); default all left
    row_tones: tuple[Tone, ...] = ()  # one per row (warnings: their severity)
    widths: tuple[int, ...] = ()  # relative column widths in percent, optional
    caption: str = ""


@dataclass(frozen=True)
class ImageRequest:
    """An image to render with the GUI's own views: `view` is four-up, 3d, in-plane:<id> or probe-eye:<id>."""

    key: str
    view: str
    caption: str


@dataclass(frozen=True)
class Figure:
    images: tuple[ImageRequest, ...]  # shown side by side
    width_percent: int = 100  # of the text width


Block = Paragraph | KeyValues | Table | Figure


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]
    level: int = 1  # 1: a chapter, 2: a sub-section (a trajectory, an ablation)
    new_page: bool = False


@dataclass(frozen=True)
class ReportContent:
    title: str
    case_title: str
    identified: bool
    generated_at: str
    version: str
    verdict: Paragraph
    sections: tuple[Section, ...]

    @property
    def images(self) -> list[ImageRequest]:
        return [image for section in self.sections for block in section.blocks if isinstance(block, Figure)
                for image in block.images]

    def text(self) -> str:
        """All words of the report, for tests and search (no layout)."""
        parts = [self.title, self.case_title, self.verdict.text]
        for section in self.sections:
            parts.append(section.title)
            for block in section.blocks:
                if isinstance(block, Paragraph):
                    parts.append(block.text)
                elif isinstance(block, KeyValues):
                    parts += [f"{k}: {v}" for k, v in block.rows]
                elif isinstance(block, Table):
                    parts += [" | ".join(row) for row in (block.header, *block.rows)]
                else:
                    parts += [image.caption for image in block.images]
        return "\n".join(parts)


# --- formatting ---------------------------------------------------------------------------
def _mm(value, signed: bool = False) -> str:
    if value is None:
        return DASH
    return f"{value:+.1f} mm" if signed else f"{value:.1f} mm"


def _pct(value) -> str:
    return DASH if value is None else f"{value:.1f} %"


WITHHELD = "[withheld]"
MIN_WITHHELD_LENGTH = 3  # shorter path parts ("ct", "a") are not names, and would garble the text


def identifying_words(session) -> list[str]:
    """What a de-identified report must not contain: the paths of the image, label map and plan, every folder and
    file name in them (and a file's stem), the patient's name parts, ID and dates; longest first."""
    info = session.case.ct.info
    paths = [session.plan.image.path, session.case.source, info.path, str(session.plan_path or "")]
    if session.plan.labels is not None:
        paths.append(session.plan.labels.path)
    words: set[str] = set()
    for text in filter(None, paths):
        if is_builtin_image(text):
            continue
        words.add(text)
        for part in re.split(r"[\\/]+", text):
            words |= {part, part.split(".")[0]}
    for field_ in (info.patient_name, info.patient_id):
        words |= {field_.strip(), *re.split(r"[\^\s,]+", field_)}
    for date in (info.birth_date, info.study_date):
        if len(date) == 8 and date.isdigit():
            words |= {date, f"{date[:4]}-{date[4:6]}-{date[6:]}", f"{date[6:]}/{date[4:6]}/{date[:4]}"}
    return sorted((w for w in words if len(w.strip()) >= MIN_WITHHELD_LENGTH), key=len, reverse=True)


def deidentified(text: str, words: list[str]) -> str:
    """`text` with each of `words` (whole words, any case) replaced by WITHHELD."""
    for word in words:
        text = re.sub(rf"(?<![\w]){re.escape(word)}(?![\w])", WITHHELD, text, flags=re.IGNORECASE)
    return text


def report_case_title(session, identify: bool) -> str:
    """The case's name on the report: its title when identified; else its description, withheld words removed, or
    the modality (never a file path: the title falls back to one when the image has no description)."""
    if identify:
        return session.case.title
    info = session.case.ct.info
    description = deidentified(info.description, identifying_words(session)) if info.description else ""
    return description or f"{info.modality or 'CT'} (no description)"


def _severity_key(warning: dict) -> int:
    return -SEVERITY_ORDER[Severity(warning["severity"])]


# --- the builder --------------------------------------------------------------------------
def build_report(session, identify: bool = False, progress: Callable[[float, str], None] | None = None,
                 now: _dt.datetime | None = None, plan_label: str | None = None) -> ReportContent:
    """The report of `session`'s plan (a `PlanSession`); `progress(fraction, message)` hears about the steps;
    `plan_label` names the plan where its file is not the one to name (the GUI reports a temporary copy)."""
    from osteoplan.core.report.check import check_plan

    def step(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    step(0.05, "Readouts and warnings…")
    label = _plan_label(session, identify, plan_label)
    check = check_plan(session, label)
    step(0.4, "Ablation zones…")
    ablation = _ablation_report(session)
    step(0.6, "Cement spread…")
    cement = _cement_report(session)
    step(0.8, "Assembling the report…")
    now = now or _dt.datetime.now().astimezone()
    warnings = sorted(check["warnings"], key=_severity_key)
    image_changed = _image_changed(session)
    image = session.plan.image
    other_patient = identity_mismatch(image.patient_fingerprint, image.study_fingerprint, session.case.ct.info)
    sections = [_case_section(session, identify, now, label, image_changed, other_patient),
                _plan_overview(session, check, warnings),
                _warnings_section(warnings), _views_section(check), *_trajectory_sections(session, check, warnings)]
    if session.plan.ablations or session.plan.injections:
        sections += _simulation_sections(session, ablation, cement, warnings)
    if session.plan.trajectories:  # the devices and models it uses
        sections.append(_catalog_section(session))
    return ReportContent(
        title="Percutaneous treatment plan", case_title=report_case_title(session, identify), identified=identify,
        generated_at=now.strftime("%Y-%m-%d %H:%M %Z").strip(), version=__version__,
        verdict=_verdict(warnings, check["hazards"], image_changed, other_patient), sections=tuple(sections))


IMAGE_CHANGED = ("The CT is not the one this plan was made on: its voxels or geometry changed since the plan was saved "
                 "(its content hash differs from the one the plan recorded). The paths may no longer lie where they "
                 "were planned: check every one on the images before relying on this report.")


def _image_changed(session) -> tuple[str, str] | None:
    """(recorded hash, the CT's hash) when the plan recorded a content hash its CT no longer has, else None."""
    from osteoplan.core.imaging.content_hash import volume_content_hash

    recorded = session.plan.image.content_hash
    if not recorded:
        return None
    actual = volume_content_hash(session.case.ct)
    return None if actual == recorded else (recorded, actual)


def _plan_label(session, identify: bool, plan_label: str | None = None) -> str:
    if not identify:
        return "(withheld: de-identified)"
    if plan_label is not None:
        return plan_label
    return "(unsaved plan)" if session.plan_path is None else str(Path(session.plan_path).resolve())


def _verdict(warnings: list[dict], hazards: dict, image_changed=None, other_patient: str | None = None) -> Paragraph:
    """The first page's verdict; what was not checked is said there, and such a verdict is never green; a CT
    that changed since the plan was saved, or of another patient, makes it a stop."""
    counts = {s: sum(w["severity"] == s.value for w in warnings) for s in Severity}
    summary = f"{counts[Severity.STOP]} stop, {counts[Severity.WARN]} warn, {counts[Severity.INFO]} info"
    not_checked = "".join(f" Not checked: {u['category']} ({u['reason']})." for u in hazards["unchecked"])
    problems = [text for text in (other_patient and f"The plan says {other_patient}.", image_changed and IMAGE_CHANGED)
                if text]
    if problems:
        return Paragraph(f"STOP: {' '.join(problems)} Warnings on this CT: {summary}.{not_checked}", "stop")
    if counts[Severity.STOP]:
        return Paragraph(f"STOP: the plan has at least one stop warning ({summary}). Review the warnings before "
                         f"treating.{not_checked}", "stop")
    if counts[Severity.WARN]:
        return Paragraph(f"No stop warning; {summary}. Review the warnings.{not_checked}", "warn")
    if not_checked:
        return Paragraph(f"No stop or warn warning among what was checked ({summary}).{not_checked}", "warn")
    return Paragraph(f"No stop or warn warning ({summary}).", "ok")


def _ablation_report(session) -> dict:
    if not session.plan.ablations:
        return {"ablations": [], "warnings": []}
    from osteoplan.core.ablation.warnings import simulate_report

    return simulate_report(session)


def _cement_report(session) -> dict:
    if not session.plan.injections:
        return {"injections": [], "warnings": []}
    from osteoplan.core.cement.simulation import injection_report

    return injection_report(session)


def _case_section(session, identify: bool, now: _dt.datetime, plan_label: str, image_changed=None,
                  other_patient: str | None = None) -> Section:
    from osteoplan.core.imaging.content_hash import volume_content_hash

    ct = session.case.ct
    info = ct.info
    image_ref = session.plan.image
    rows: list[tuple[str, str]] = []
    tones: dict[str, Tone] = {}
    if identify:
        rows += [("Patient name", person_name(info.patient_name) or DASH), ("Patient ID", info.patient_id or DASH),
                 ("Birth date", dicom_date(info.birth_date) or DASH),
                 ("Study date", dicom_date(info.study_date) or DASH)]
    else:
        rows.append(("Patient identity", "withheld: de-identified report (no name, ID, dates or file paths)"))
        tones["Patient identity"] = "info"
    builtin = is_builtin_image(image_ref.path)
    rows += [
        ("Image", report_case_title(session, identify)),
        ("Image source", image_ref.path if (identify or builtin) else "withheld (file paths can name the patient)"),
        ("Modality", info.modality or DASH),
        ("Size", " × ".join(str(n) for n in ct.size) + " voxels"),
        ("Spacing", " × ".join(f"{s:.3g}" for s in ct.spacing) + " mm"),
        ("Content hash", image_changed[1] if image_changed else image_ref.content_hash or volume_content_hash(ct)),
    ]
    if image_changed:
        rows.append(("Hash the plan recorded", f"{image_changed[0]} — NOT this CT"))
        tones["Hash the plan recorded"] = "stop"
    if identify and info.uid:
        rows.append(("Series UID", info.uid))
    found_on_ct = session.case.automatic.values if session.case.automatic is not None else frozenset()
    if session.case.labels is not None and len(session.case.labels.names) > len(found_on_ct):
        rows.append(("Label map", f"{len(session.case.labels.names) - len(found_on_ct)} structures"))
    by_method: dict[str, list[dict]] = {}  # found on the CT: a reader weighs it; one row per method (the vertebrae)
    for item in automatic_structures(session.case, session.structures):
        by_method.setdefault(item["method"], []).append(item)
    for method, items in by_method.items():
        categories = sorted({i["category"] for i in items})
        rows.append((f"{', '.join(i['name'] for i in items)} ({', '.join(categories)})", method))
    rows += [("Plan file", plan_label),
             ("Report date", now.strftime("%Y-%m-%d %H:%M %Z").strip()),
             ("OsteoPlan version", __version__)]
    blocks: list[Block] = [KeyValues(tuple(rows), tones)]
    if image_changed:
        blocks.insert(0, Paragraph(IMAGE_CHANGED, "stop"))
    if other_patient:
        blocks.insert(0, Paragraph(f"The plan says {other_patient}.", "stop"))
    if session.case.warnings:
        loaded = " ".join(session.case.warnings)
        blocks.append(Paragraph("Loaded with warnings: " + (
            loaded if identify else deidentified(loaded, identifying_words(session))), "warn"))
    return Section("Case", tuple(blocks))


def _worst(warnings: list[dict], object_ids: set[str]) -> Tone:
    mine = [w for w in warnings if w["object"] in object_ids]
    return Severity(mine[0]["severity"]).value if mine else "ok"  # warnings are sorted worst first


def _object_ids(session, trajectory_id: str) -> set[str]:
    """The trajectory, its spindles, ablations and injections: the objects its warnings name."""
    plan = session.plan
    trajectory = plan.trajectory(trajectory_id)
    return {trajectory_id, *(s.id for s in trajectory.spindles), *(a.id for a in plan.ablations_of(trajectory_id)),
            *(i.id for i in plan.injections_of(trajectory_id))}


def _plan_overview(session, check: dict, warnings: list[dict]) -> Section:
    rows, tones = [], []
    for item in check["trajectories"]:
        trajectory = session.plan.trajectory(item["id"])
        device = session.catalog.get(item["device"])
        tone = _worst(warnings, _object_ids(session, item["id"]))
        rows.append((item["id"], trajectory.label, item["kind"], device.name, _mm(item["length_mm"]),
                     item["breach_grade"] or DASH, {"ok": "none"}.get(tone, tone)))
        tones.append(tone)
    blocks: list[Block] = []
    if rows:
        blocks.append(Table(("Id", "Name", "Technique", "Device", "Length", "Breach", "Worst"),
                            tuple(rows), "lllllll", tuple(tones), (6, 16, 15, 33, 10, 8, 12)))
    else:
        blocks.append(Paragraph("The plan has no trajectory."))
    extra = []
    if session.plan.ablations:
        extra.append(f"{len(session.plan.ablations)} ablation(s)")
    if session.plan.injections:
        extra.append(f"{len(session.plan.injections)} cement injection(s)")
    if session.plan.thermocouples:
        extra.append(f"{len(session.plan.thermocouples)} thermocouple(s)")
    if extra:
        blocks.append(Paragraph("The plan also holds " + ", ".join(extra) + " (see Simulations)."))
    return Section("Plan", tuple(blocks))


def _views_section(check: dict) -> Section:
    first = f" at the target of {check['trajectories'][0]['id']}" if check["trajectories"] else ""
    return Section("Views", (
        Figure((ImageRequest("four-up", "four-up", f"Four-pane view{first}: axial, 3D, sagittal and coronal, as in "
                             "the planning window."),), width_percent=92),
        Figure((ImageRequest("overview-3d", "3d", "3D overview: bone, critical structures, every needle and the "
                             "simulated zones."),), width_percent=92),
    ), new_page=True)


def _trajectory_sections(session, check: dict, warnings: list[dict]) -> list[Section]:
    sections = []
    for item in check["trajectories"]:
        trajectory = session.plan.trajectory(item["id"])
        readout = session.readout(item["id"])
        device = session.catalog.get(item["device"])
        breach = item["breach_grade"] or DASH
        if readout.breach_mm is not None and readout.breach_mm > 0:
            breach += f" ({readout.breach_direction or 'breach'} {readout.breach_mm:.1f} mm)"
        length = DASH if device.length_mm is None else f"{device.length_mm:g} mm"
        rows = [
            ("Technique", item["kind"] + (f", {trajectory.side.value} side" if trajectory.side else "")),
            ("Level / target", " / ".join(v for v in (trajectory.level, trajectory.target_structure) if v) or DASH),
            ("Device", f"{device.name} ({device.id}; {device.gauge or DASH}, working length {length})"
             + ("" if device.verified else " — illustrative")),
            ("Needle length", _mm(item["length_mm"])),
            ("Path in bone", _mm(item["bone_path_mm"])),
            ("Skin depth", _mm(item["skin_depth_mm"])),
            ("Skin to target", _mm(readout.skin_to_target_mm)),
            ("Device long enough", {True: "yes", False: "NO", None: DASH}[readout.device_long_enough]),
            ("Tip in", describe_tip(item["tip_tissue"], item["tip_bone"])),
            ("Angles", f"transverse {item['angles_deg']['transverse']:+.1f}°, "
                       f"sagittal {item['angles_deg']['sagittal']:+.1f}°"),
            ("Breach grade", breach),
            ("Entry (LPS)", ", ".join(f"{v:.1f}" for v in trajectory.entry) + " mm"),
            ("Target (LPS)", ", ".join(f"{v:.1f}" for v in trajectory.target) + " mm"),
        ]
        tones: dict[str, Tone] = {}
        if readout.device_long_enough is False:
            tones["Device long enough"] = "warn"
        if item["breach_grade"] not in (None, "A"):
            tones["Breach grade"] = "warn" if item["breach_grade"] in ("B", "C") else "stop"
        blocks: list[Block] = [KeyValues(tuple(rows), tones)]
        if item["spindles"]:
            spindle_rows, spindle_tones = [], []
            for spindle, found in zip(trajectory.spindles, item["spindles"]):
                tip = next((s.tip_tissue for s in readout.spindles if s.id == found["id"]), DASH)
                spindle_rows.append((found["id"], session.catalog.get(spindle.device).name, _mm(spindle.length_mm),
                                     "yes" if found["anchored"] else "NO", _mm(found["anchorage_mm"]), tip))
                spindle_tones.append("ok" if found["anchored"] else "warn")
            blocks.append(Table(("Spindle", "Device", "Length", "Anchored", "In healthy bone", "Tip in"),
                                tuple(spindle_rows), "llrlrl", tuple(spindle_tones), caption="Spindles"))
        needle = {item["id"], *(s["id"] for s in item["spindles"])}  # the zones' and cement's: under Simulations
        mine = [w for w in warnings if w["object"] in needle]
        blocks.append(_warning_table(mine, "Warnings of the needle") if mine
                      else Paragraph("No warning about the needle.", "ok"))
        label = trajectory.label
        blocks.append(Figure((
            ImageRequest(f"in-plane-{item['id']}", f"in-plane:{item['id']}",
                         f"{label}: in-plane view along the needle (axial-like plane containing it)."),
            ImageRequest(f"probe-eye-{item['id']}", f"probe-eye:{item['id']}",
                         f"{label}: probe's-eye view across the needle at its tip."),
        )))
        sections.append(Section(f"Path {item['id']}: {label}", tuple(blocks), level=2, new_page=True))
    return sections


def _simulation_sections(session, ablation: dict, cement: dict, warnings: list[dict]) -> list[Section]:
    intro = []
    if cement["injections"]:
        intro.append("Cement: the spread model fills the bone from the trocar's tip up to the planned volume and "
                     "names the leak gateways its front reaches.")
    if ablation["ablations"]:
        intro.append("Ablation: the catalog's zone (table model) for the probe and setting, its lesion coverage and "
                     "margin, the nearest critical structures and the thermocouple temperatures.")
    sections = [Section("Simulations", (Paragraph(" ".join(intro)),), new_page=True)]

    def warnings_of(object_id: str) -> Block:  # listed in full under Warnings
        mine = [w for w in warnings if w["object"] == object_id]
        if not mine:
            return Paragraph(f"No warning about {object_id}.", "ok")
        counts = ", ".join(f"{n} {s.value}" for s in (Severity.STOP, Severity.WARN, Severity.INFO)
                           if (n := sum(w["severity"] == s.value for w in mine)))
        return Paragraph(f"Warnings about {object_id}: {counts} (each with its threshold under Warnings).",
                         Severity(mine[0]["severity"]).value)

    for item in cement["injections"]:
        injection = next(i for i in session.plan.injections if i.id == item["id"])
        blocks: list[Block] = [KeyValues((
            ("Injected", f"{item['injected_ml']:g} mL"), ("Filled", f"{item['filled_ml']:.2f} mL"),
            ("Viscosity", injection.viscosity),
            ("Lesion filled", _pct(item["lesion_fill"])), ("Target bone filled", _pct(item["bone_fill"])),
        ))]
        if item["gateways"]:
            rows, tones = [], []
            for g in item["gateways"]:
                stop = g["into"] in ("epidural canal", "foramen")
                rows.append((g["kind"], g["into"], f"{g['reached_at_ml']:.2f} mL",
                             DASH if g["probability"] is None else f"{100 * g['probability']:.0f} %"))
                tones.append("stop" if stop else "warn" if g["into"] in ("vein", "disc") else "info")
            blocks.append(Table(("Leak gateway", "Into", "Reached at", "Probability"), tuple(rows), "llrr",
                                tuple(tones), caption="Leak gateways the cement front reaches"))
        else:
            blocks.append(Paragraph("The cement front reaches no leak gateway at the planned volume.", "ok"))
        if item.get("spindles"):
            blocks.append(Table(("Spindle", "Embedded in cement"),
                                tuple((s["id"], _mm(s["embedded_mm"])) for s in item["spindles"]), "lr",
                                caption="Spindles embedded in the cement"))
        blocks.append(warnings_of(item["id"]))
        sections.append(Section(f"Cement injection {item['id']} through {item['trocar']}", tuple(blocks), level=2))
    for item in ablation["ablations"]:
        plan_item = session.plan.ablation(item["id"])
        device = session.catalog.get(item["device"])
        setting = device.setting(plan_item.setting)
        zone = item["lethal_zone"]
        blocks = [KeyValues((
            ("Probe", f"{device.name} ({device.id})"), ("Setting", setting.label),
            ("Model", item["model"] + ("" if item["verified"] else " — illustrative zone (unverified numbers)")),
            ("Lethal zone", f"{zone['length_mm']:.1f} × {zone['width_mm']:.1f} mm, {zone['volume_ml']:.2f} mL"),
            ("Lesion coverage", _pct(item["lesion_coverage"])),
            ("Minimum margin", _mm(item["min_margin_mm"], signed=True)),
        ), {} if item["verified"] else {"Model": "info"})]
        if item["thermocouples"]:
            blocks.append(Table(("Thermocouple", "Predicted peak"),
                                tuple((t["id"], f"{t['peak_c']:.1f} °C") for t in item["thermocouples"]), "lr",
                                caption="Thermocouple temperatures (table model)"))
        if item["structures"]:
            nearest = item["structures"][:MAX_STRUCTURES_PER_ABLATION]
            rows = tuple((s["name"], _mm(s["distance_mm"], signed=True),
                          DASH if s["peak_c"] is None else f"{s['peak_c']:.1f} °C") for s in nearest)
            tones = tuple("stop" if s["distance_mm"] <= 0 else "" for s in nearest)
            blocks.append(Table(("Structure", "Distance from zone", "Peak temperature"), rows, "lrr", tones,
                                caption="Nearest critical structures (negative: the zone enters it)"))
        blocks.append(warnings_of(item["id"]))
        sections.append(Section(f"Ablation {item['id']} on {item['trajectory']}", tuple(blocks), level=2))
    return sections


def _catalog_section(session) -> Section:
    """Every catalog entry the plan uses, verified or illustrative, with its source."""
    rows, tones = [], []
    seen: set[str] = set()
    for trajectory in session.plan.trajectories:
        for device_id in (trajectory.device, *(s.device for s in trajectory.spindles)):
            if device_id in seen:
                continue
            seen.add(device_id)
            device = session.catalog.get(device_id)
            rows.append((device.name, device.kind.value, "verified" if device.verified else "illustrative",
                         device.notes or device.source))
            tones.append("ok" if device.verified else "info")
    for ablation in session.plan.ablations:
        try:
            device = session.catalog.get(session.plan.trajectory(ablation.trajectory).device)
            setting = device.setting(ablation.setting)
        except (KeyError, AttributeError):
            continue
        rows.append((f"{device.name}: {setting.label}", "ablation setting",
                     "verified" if setting.verified else "illustrative", setting.notes or setting.source))
        tones.append("ok" if setting.verified else "info")
    if session.plan.injections:
        from osteoplan.core.cement.spread import cement_model

        model = cement_model()
        parts = {"density": model.density, "permeability": model.kozeny, "cortical bone": model.cortical,
                 **{f"outside bone: {k}": v for k, v in model.outside.items()}}
        unverified = [name for name, part in parts.items() if not part.verified]
        rows.append(("Cement spread model", "simulation model", "illustrative" if unverified else "verified",
                     ("Unverified parameters: " + ", ".join(unverified)) if unverified else model.description))
        tones.append("info" if unverified else "ok")
    return Section("Catalog entries used", (
        Table(("Entry", "Kind", "Status", "Source or note"), tuple(rows), "llll", tuple(tones), (28, 14, 12, 46)),))


def _warning_table(warnings: list[dict], caption: str = "") -> Table:
    rows = tuple((w["severity"].upper(), w["object"], w["message"],
                  _mm(w["distance_mm"], signed=True) if w["distance_mm"] is not None else DASH,
                  DASH if w["threshold_mm"] is None else f"{w['threshold_mm']:g} mm") for w in warnings)
    return Table(("Severity", "Object", "Warning", "Measured", "Threshold"), rows, "lllrr",
                 tuple(w["severity"] for w in warnings), (9, 7, 60, 12, 12), caption)


def _warnings_section(warnings: list[dict]) -> Section:
    if not warnings:
        return Section("Warnings", (Paragraph("The plan has no warning.", "ok"),))
    return Section("Warnings", (
        Paragraph(f"Every warning of the plan, worst first ({len(warnings)}): the measured distance and the "
                  "threshold it is compared with (stop and warn thresholds: resources/check_rules.json, "
                  "structure_categories.json, ablation_model.json)."),
        _warning_table(warnings)))
