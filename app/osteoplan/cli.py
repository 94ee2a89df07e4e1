"""The `osteoplan` command: the GUI and the headless sub-commands.

    osteoplan [PATH] [--demo [spine|hip]]          open the GUI
    osteoplan info PATH [--json]                    describe a DICOM folder or image file
    osteoplan phantom OUT_DIR [--case spine|hip]    write a demo case as NIfTI + labels
    osteoplan screenshot [PATH | --demo [CASE] | --plan PLAN.json] --out FILE.png [--view V] [--size WxH]
    osteoplan check PLAN.json [--json]              readouts and warnings of a plan (exit 1 on a stop)
    osteoplan devices [--json]                      the device catalog (built-in and plugins)
    osteoplan simulate ablation PLAN.json [--refine] [--json]   ablation zones, coverage, temperatures, warnings
    osteoplan simulate cement PLAN.json [--json] [--monte-carlo N] cement spread, fill, leak gateways, warnings
    osteoplan export PLAN.json [--markups OUT_DIR] [--labels OUT.seg.nrrd]   paths and structures for 3D Slicer
    osteoplan import-markups FILE.mrk.json... --into PLAN.json   add Slicer lines as paths to a plan
    osteoplan report PLAN.json --out REPORT.pdf [--identify]   the plan as a PDF report (de-identified by default)
    osteoplan propose PLAN.json --target x,y,z|--lesion NAME --technique T [--json] [--count N]   safest paths

Bad input ends with exit code 2 and one line on stderr, never a traceback
(set OSTEOPLAN_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import traceback
from pathlib import Path

from osteoplan import __version__
from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.imaging.demo import DEMO_CASES

EXIT_STOP = 1  # `check`: the plan has a stop warning
EXIT_BAD_INPUT = 2
EXIT_INTERNAL_ERROR = 3
VIEWS = ("four-up", "axial", "sagittal", "coronal", "3d", "drr-ap", "drr-lateral")


class UsageError(OsteoPlanError):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as our one-line error (exit code 2)."""

    def error(self, message: str):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _add_demo_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demo", nargs="?", const="spine", choices=DEMO_CASES, metavar="{spine,hip}",
                        help="open a built-in synthetic demo case (default: spine)")


def _gui_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="osteoplan",
        description="OsteoPlan: rehearse a percutaneous bone-metastasis treatment on the patient's CT. "
        f"Sub-commands: {', '.join(SUBCOMMANDS)} (run `osteoplan COMMAND --help`).",
    )
    parser.add_argument("path", nargs="?", help="a DICOM folder, an image file (.nii, .nii.gz, .nrrd, .mha, .mhd) "
                        "or a plan file (.json)")
    _add_demo_option(parser)
    parser.add_argument("--version", action="version", version=f"osteoplan {__version__}")
    return parser


def _subcommand_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="osteoplan")
    commands = parser.add_subparsers(dest="command", required=True)

    info = commands.add_parser("info", help="describe a DICOM folder (every series) or an image file")
    info.add_argument("path")
    info.add_argument("--json", action="store_true", help="print one JSON object")

    phantom = commands.add_parser("phantom", help="write a demo case as ct.nii.gz, labels.nii.gz, labels.json")
    phantom.add_argument("out_dir")
    phantom.add_argument("--case", choices=DEMO_CASES, default="spine")

    shot = commands.add_parser("screenshot", help="render the main window offscreen to a PNG")
    shot.add_argument("path", nargs="?")
    _add_demo_option(shot)
    shot.add_argument("--plan", help="a plan file: its image with its paths")
    shot.add_argument("--out", required=True, help="PNG file to write")
    shot.add_argument("--view", default="four-up", type=_view_choice,
                      help=f"{'|'.join(VIEWS)}, needle:<trajectory id> for a plan's needle views, or "
                           "drr:<trajectory id> for the fluoroscopy down that needle (bull's-eye)")

    check = commands.add_parser("check", help="evaluate a plan headless: readouts and warnings")
    check.add_argument("plan")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    shot.add_argument("--size", default="1400x900", help="window size WxH in pixels (default 1400x900)")

    simulate = commands.add_parser("simulate", help="simulate a plan's treatment: ablation zones and warnings")
    simulate.add_argument("what", choices=("ablation", "cement"))
    simulate.add_argument("plan")
    simulate.add_argument("--refine", action="store_true", help="the 3-D bioheat model instead of the zone table")
    simulate.add_argument("--json", action="store_true", help="print one JSON object")
    simulate.add_argument("--monte-carlo", type=int, default=0, metavar="N",
                          help="cement: N seeded runs with noise on permeability give each gateway's probability")

    devices = commands.add_parser("devices", help="list the device catalog (built-in and plugin devices)")
    devices.add_argument("--json", action="store_true", help="print one JSON object")

    export = commands.add_parser("export", help="write a plan's paths (and structures) for 3D Slicer")
    export.add_argument("plan")
    export.add_argument("--markups", metavar="OUT_DIR", help="one Slicer markups line (.mrk.json) per path")
    export.add_argument("--labels", metavar="OUT.seg.nrrd", help="the structures as a Slicer segmentation "
                        "(.seg.nrrd) or label map (.nii.gz, .nrrd), with a colour table (.ctbl) beside it")

    markups = commands.add_parser("import-markups", help="add 3D Slicer markups lines to a plan as paths")
    markups.add_argument("files", nargs="+", metavar="FILE.mrk.json")
    markups.add_argument("--into", required=True, metavar="PLAN.json", help="the plan to add them to (rewritten)")

    report = commands.add_parser("report", help="write the plan's report as a PDF (readouts, simulations, "
                                 "warnings, views); de-identified unless --identify")
    report.add_argument("plan")
    report.add_argument("--out", required=True, metavar="REPORT.pdf", help="PDF file to write")
    report.add_argument("--identify", action="store_true", help="include the patient's name, ID, dates and file paths")
    report.add_argument("--progress", action="store_true", help=argparse.SUPPRESS)  # progress lines for the GUI
    report.add_argument("--plan-label", help=argparse.SUPPRESS)  # the GUI's plan, reported from a temporary copy
    # the GUI's Preferences ({category: {context: [warn_mm, stop_mm]}}): its report warns as its window does
    report.add_argument("--threshold-defaults", metavar="FILE.json", help=argparse.SUPPRESS)

    propose = commands.add_parser("propose", help="propose the safest straight paths to a target, ranked")
    propose.add_argument("plan")
    aim = propose.add_mutually_exclusive_group(required=True)
    aim.add_argument("--target", metavar="x,y,z", help="the target point, LPS mm")
    aim.add_argument("--lesion", metavar="NAME", help="a lesion label of the case")
    propose.add_argument("--technique", required=True, choices=("transpedicular", "parapedicular", "transcortical"))
    propose.add_argument("--count", type=int, default=5, metavar="N", help="how many paths (default 5)")
    propose.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _view_choice(text: str) -> str:
    if text in VIEWS or any(text.startswith(p) and len(text) > len(p) for p in ("needle:", "drr:")):
        return text
    raise argparse.ArgumentTypeError(f"invalid view {text!r}: choose {', '.join(VIEWS)}, needle:<trajectory id> "
                                     "or drr:<trajectory id>")


SUBCOMMANDS = ("info", "phantom", "screenshot", "check", "devices", "simulate", "export", "import-markups", "report",
               "propose")


def _warn(notes) -> None:
    """Notes about the input (a resampled series, a missing label map...): one stderr line each."""
    for note in notes:
        print(f"osteoplan: warning: {note}", file=sys.stderr)


def _print_warnings(warnings: list[dict], stop: bool, stop_verdict: str, not_checked: list[str] = ()) -> int:
    """The text output's warning lines, what was not checked, and the verdict; returns the exit code."""
    for warning in warnings:
        print(f"  {warning['severity'].upper():4} {warning['message']}")
    for line in not_checked:  # a verdict never reads as safe for what it did not measure
        print(line)
    if stop:
        print(f"STOP: {stop_verdict}")
    else:
        print("No stop warning" + (" among what was checked." if not_checked else "."))
    return EXIT_STOP if stop else 0


def _open_plan_session(plan_path: str):
    from osteoplan.core.session import open_plan_session

    session, notes = open_plan_session(plan_path)
    _warn(notes)
    return session


class _WarningLines(logging.Handler):
    """OsteoPlan's logged warnings (plugin problems) as `osteoplan: warning:` lines on the stderr of the moment."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"osteoplan: warning: {record.getMessage()}", file=sys.stderr)


def _log_warnings_as_lines() -> None:
    logger = logging.getLogger("osteoplan")
    if not any(isinstance(h, _WarningLines) for h in logger.handlers):
        logger.addHandler(_WarningLines(logging.WARNING))
        logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _log_warnings_as_lines()
    try:
        if argv and argv[0] in SUBCOMMANDS:
            args = _subcommand_parser().parse_args(argv)
            if getattr(args, "out", None) and Path(args.out).is_dir():
                raise UsageError(f"--out {args.out} is a folder; give the file to write (e.g. {Path(args.out) / 'out'}"
                                 f"{'.png' if args.command == 'screenshot' else '.pdf'})")
            handlers = {"info": _info, "phantom": _phantom, "screenshot": _screenshot, "devices": _devices,
                        "check": _check, "simulate": _simulate, "export": _export, "import-markups": _import_markups,
                        "report": _report, "propose": _propose}
            return handlers[args.command](args)
        args = _gui_parser().parse_args(argv)
        if args.path and args.demo:
            raise UsageError("give either a PATH or --demo, not both")
        from osteoplan.ui.app import run_gui

        return run_gui(path=args.path, demo=args.demo)
    except OsteoPlanError as exc:
        print(f"osteoplan: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `osteoplan devices | head -1`: the reader has what it wanted
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a file that cannot be read or written (full disk, permissions): the user can act on it
        where = f" {exc.filename}" if exc.filename else ""
        print(f"osteoplan: error: cannot use{where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("osteoplan: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001  (a bug still gets one line, not a traceback)
        if os.environ.get("OSTEOPLAN_DEBUG"):
            traceback.print_exc()
        print(f"osteoplan: internal error: {type(exc).__name__}: {exc} (set OSTEOPLAN_DEBUG=1 for details)",
              file=sys.stderr)
        return EXIT_INTERNAL_ERROR


def _info(args) -> int:
    from osteoplan.core.imaging.io import describe_image

    report = describe_image(args.path)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{report['path']}: {len(report['series'])} series")
    for number, series in enumerate(report["series"], start=1):
        size = " x ".join(str(n) for n in series["size"])
        spacing = " x ".join(f"{s:.3f}" for s in series["spacing"])
        print(f"  [{number}] {series['modality']:<3} {series['description'] or '(no description)'}")
        print(f"      size {size} voxels, spacing {spacing} mm, HU {series['hu_range'][0]:g} .. {series['hu_range'][1]:g}")
        print(f"      origin (LPS mm) {', '.join(f'{o:.2f}' for o in series['origin'])}; UID {series['uid'] or '-'}")
    for warning in report["warnings"]:
        print(f"  warning: {warning}")
    return 0


def _phantom(args) -> int:
    from osteoplan.core.imaging.phantom import write_phantom

    for path in write_phantom(args.case, Path(args.out_dir)):
        print(path)
    return 0


def _parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size must look like 1400x900, got {text!r}") from None
    if not (200 <= width <= 8000 and 200 <= height <= 8000):
        raise UsageError(f"--size must be between 200x200 and 8000x8000, got {text!r}")
    return width, height


def _exit_at_once_on_interrupt(out: str) -> None:
    """Ctrl+C in a command that renders with Qt/VTK: exit 130 at once with one line, leaving no partial file.
    (A KeyboardInterrupt raised inside Qt's or VTK's C++ callbacks prints a traceback and goes on, or crashes
    their teardown.) The output is written atomically: only its temporary file can be left, and it is removed."""
    import signal

    from osteoplan.core.atomic import TEMP_SUFFIX

    target = Path(out).resolve()

    def interrupted(_signum, _frame) -> None:
        for leftover in target.parent.glob(f".{target.name}.*{TEMP_SUFFIX}*"):
            with contextlib.suppress(OSError):
                leftover.unlink()
        os.write(2, b"osteoplan: interrupted\n")
        os._exit(130)

    signal.signal(signal.SIGINT, interrupted)


def _screenshot(args) -> int:
    from osteoplan.core.imaging.case import Case

    _exit_at_once_on_interrupt(args.out)
    if sum(bool(x) for x in (args.path, args.demo, args.plan)) > 1:
        raise UsageError("give one of PATH, --demo or --plan")
    size = _parse_size(args.size)
    session = None
    if args.plan:
        session = _open_plan_session(args.plan)
        case = session.case
    elif args.path:
        from osteoplan.core.imaging.io import load_image

        from osteoplan.core.imaging.automatic import with_automatic_anatomy

        loaded = load_image(args.path)
        case = with_automatic_anatomy(Case(ct=loaded.volume, source=args.path, warnings=tuple(loaded.warnings)))
        _warn(loaded.warnings)
    else:
        from osteoplan.core.imaging.demo import load_demo_case

        case = load_demo_case(args.demo or "spine")
    if args.view.startswith(("needle:", "drr:")):
        needle_id = args.view.split(":", 1)[1]
        if session is None or needle_id not in session.plan:
            known = ", ".join(t.id for t in session.plan.trajectories) if session else "none: give --plan"
            raise UsageError(f"--view {args.view}: no trajectory {needle_id!r} (trajectories: {known})")
    from osteoplan.ui.screenshot import render_screenshot

    print(render_screenshot(case, args.out, view=args.view, size=size, session=session))
    return 0


def _check(args) -> int:
    from osteoplan.core.planning.readouts import describe_tip
    from osteoplan.core.report.check import check_plan
    from osteoplan.core.safety.warnings import Severity

    session = _open_plan_session(args.plan)
    report = check_plan(session, args.plan)
    stop = any(w["severity"] == Severity.STOP.value for w in report["warnings"])
    if args.json:
        print(json.dumps(report))
        return EXIT_STOP if stop else 0
    print(f"{args.plan}: {len(report['trajectories'])} path(s) on {session.case.title}")
    for item in report["trajectories"]:
        skin = "-" if item["skin_depth_mm"] is None else f"{item['skin_depth_mm']:.1f} mm"
        print(f"  {item['id']} {item['kind']} {item['device']}: length {item['length_mm']:.1f} mm, in bone "
              f"{item['bone_path_mm']:.1f} mm, skin depth {skin}, tip in {describe_tip(item['tip_tissue'], item['tip_bone'])}, angles transverse "
              f"{item['angles_deg']['transverse']:+.1f}° sagittal {item['angles_deg']['sagittal']:+.1f}°"
              + (f", breach grade {item['breach_grade']}" if item["breach_grade"] else ""))
        for spindle in item["spindles"]:
            print(f"      spindle {spindle['id']}: {'anchored' if spindle['anchored'] else 'NOT anchored'} "
                  f"({spindle['anchorage_mm']:.1f} mm in healthy bone)")
    return _print_warnings(report["warnings"], stop, "the plan has at least one stop warning.",
                           session.hazard_coverage().lines())


def _propose(args) -> int:
    from osteoplan.core.proposals.propose import propose_command

    result, lines = propose_command(args.plan, args.target, args.lesion, args.technique, args.count)
    print(json.dumps(result.as_json()) if args.json else "\n".join(lines))
    if args.json and not result.candidates:
        print(f"osteoplan: {result.message}", file=sys.stderr)
    return 0


def _devices(args) -> int:
    from osteoplan.core.planning.devices import device_catalog

    catalog = device_catalog()  # its plugin problems are reported once each, as warnings (see `main`)
    if args.json:
        print(json.dumps(catalog.listing()))
        return 0
    rows = [("id", "kind", "OD mm", "gauge", "length mm", "name", "")]
    for device in catalog.devices:
        length = f"{device.length_mm:g}" if device.length_mm is not None else "-"
        rows.append((device.id, device.kind.value, f"{device.outer_diameter_mm:.3f}", device.gauge or "-",
                     length, device.name, "" if device.verified else "illustrative"))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print(f"{len(catalog)} devices. illustrative: not every number of the entry is verified against its source "
          "(`osteoplan devices --json` gives each source).")
    return 0


def _simulate_cement(args) -> int:
    from osteoplan.core.cement.simulation import injection_report, portion_lines
    from osteoplan.core.cement.spread import CementError
    session = _open_plan_session(args.plan)
    if args.monte_carlo < 0:
        raise CementError(f"--monte-carlo must be >= 0, got {args.monte_carlo}")
    report = injection_report(session, monte_carlo=args.monte_carlo)
    stop = any(w["severity"] == "stop" for w in report["warnings"])
    if args.json:
        print(json.dumps(report))
        return EXIT_STOP if stop else 0
    print(f"{args.plan}: {len(report['injections'])} injection(s) on {session.case.title}")
    for item in report["injections"]:
        lesion = "-" if item["lesion_fill"] is None else f"{item['lesion_fill']:.1f} %"
        bone = "-" if item["bone_fill"] is None else f"{item['bone_fill']:.1f} %"
        print(f"  {item['id']} through {item['trocar']}: {item['injected_ml']:g} mL injected, {item['filled_ml']:.2f} mL "
              f"filled; lesion {lesion}, bone {bone}")
        for g in item["gateways"]:
            print(f"      {g['kind']} -> {g['into']} at {g['reached_at_ml']:.2f} mL")
        for line in portion_lines(session, item["id"]):  # stepwise injection: what each portion reaches
            print(f"      {line}")
    return _print_warnings(report["warnings"], stop, "at least one injection has a stop warning.",
                           session.hazard_coverage().lines())


def _simulate(args) -> int:
    if args.what == "cement":
        return _simulate_cement(args)
    from osteoplan.core.ablation.warnings import simulate_report
    from osteoplan.core.safety.warnings import Severity

    if args.refine:
        from osteoplan.core.ablation.refine import bioheat_available

        if not bioheat_available():
            raise UsageError("--refine: the bioheat model is unavailable in this build (osteoplan.core.ablation.bioheat "
                             "is missing); run without --refine for the table model")
    session = _open_plan_session(args.plan)
    if args.refine:
        from osteoplan.core.ablation.refine import refined_report

        report = refined_report(session)
    else:
        report = simulate_report(session)
    stop = any(w["severity"] == Severity.STOP.value for w in report["warnings"])
    if args.json:
        print(json.dumps(report))
        return EXIT_STOP if stop else 0
    print(f"{args.plan}: {len(report['ablations'])} ablation(s) on {session.case.title}")
    for item in report["ablations"]:
        zone = item["lethal_zone"]
        coverage = "-" if item["lesion_coverage"] is None else f"{item['lesion_coverage']:.1f} %"
        margin = "-" if item["min_margin_mm"] is None else f"{item['min_margin_mm']:+.1f} mm"
        print(f"  {item['id']} on {item['trajectory']} ({item['device']}, {item['model']} model"
              f"{'' if item['verified'] else ', illustrative'}): lethal zone {zone['length_mm']:.1f} x "
              f"{zone['width_mm']:.1f} mm, {zone['volume_ml']:.2f} mL; lesion coverage {coverage}, margin {margin}")
        for tc in item["thermocouples"]:
            print(f"      thermocouple {tc['id']}: peak {tc['peak_c']:.1f} °C")
        for structure in item["structures"][:8]:
            peak = "" if structure["peak_c"] is None else f", peak {structure['peak_c']:.1f} °C"
            print(f"      {structure['name']}: {structure['distance_mm']:.1f} mm{peak}")
    return _print_warnings(report["warnings"], stop, "at least one ablation has a stop warning.",
                           session.hazard_coverage().lines())


def _export(args) -> int:
    from osteoplan.core.files.plan_file import load_plan
    from osteoplan.core.files.slicer_markups import export_markups
    from osteoplan.core.files.slicer_segmentation import check_export_path, export_segmentation
    from osteoplan.core.planning.devices import device_catalog

    if not args.markups and not args.labels:
        raise UsageError("export: give --markups OUT_DIR and/or --labels OUT.seg.nrrd")
    if args.labels:
        check_export_path(args.labels)  # a bad name fails before anything is written
    if args.markups:
        plan = load_plan(args.plan).plan  # the paths alone: the CT is not needed
        written = export_markups(plan, args.markups, device_catalog())
        for path in written:
            print(path)
        if not written:
            print(f"osteoplan: warning: {args.plan} has no paths; no markups file written", file=sys.stderr)
    if args.labels:
        session = _open_plan_session(args.plan)
        _warn(session.structure_notes)
        for path in export_segmentation(session.structures, session.case.ct, args.labels):
            print(path)
    return 0


def _import_markups(args) -> int:
    from osteoplan.core.files.plan_file import editing_plan_file, load_plan, save_plan
    from osteoplan.core.files.slicer_markups import add_imported, import_markups
    from osteoplan.core.planning.devices import device_catalog
    from osteoplan.core.planning.editing import PlanEditor

    catalog = device_catalog()
    with editing_plan_file(args.into):  # concurrent imports into one plan take turns: none is lost
        loaded = load_plan(args.into, catalog)
        bounds = _image_bounds(loaded)
        imported = import_markups(args.files, loaded.plan, catalog, bounds)  # every file read before the plan changes
        _warn(imported.notes)
        if imported.trajectories:
            add_imported(PlanEditor(loaded.plan, catalog=catalog), imported)
            save_plan(loaded.plan, args.into)
    for trajectory in imported.trajectories:
        print(f"added {trajectory.id} {trajectory.label!r}: {trajectory.kind.value}, {trajectory.device}, "
              f"{trajectory.length_mm:.1f} mm (from {imported.sources[trajectory.id]})")
    for landmark in imported.landmarks:
        x, y, z = landmark.position_lps
        print(f"landmark {landmark.label!r} at LPS ({x:.2f}, {y:.2f}, {z:.2f}) mm (from {landmark.source}): not "
              "added, a plan holds paths only (File > Import markups in the GUI puts the cursor on it)")
    print(f"{args.into}: {len(imported.trajectories)} path(s) added")
    return 0


def _image_bounds(loaded):
    """The plan's CT box from its headers, or None (said on stderr) when the CT cannot be read: the paths are then
    imported unchecked against it."""
    from osteoplan.core.imaging.demo import is_builtin_image
    from osteoplan.core.imaging.io.images import image_bounds_lps

    if is_builtin_image(loaded.plan.image.path):
        from osteoplan.core.imaging.demo import DEMO_IMAGE_PREFIX, load_demo_case

        return load_demo_case(loaded.plan.image.path[len(DEMO_IMAGE_PREFIX):]).ct.bounds_lps()
    try:
        return image_bounds_lps(loaded.image_path, loaded.plan.image.series_uid)
    except OsteoPlanError as exc:
        _warn([f"the plan's CT could not be read ({exc}); the imported paths are not checked against it"])
        return None


def _report(args) -> int:
    from osteoplan.ui.report_export import report_command

    _exit_at_once_on_interrupt(args.out)
    if args.threshold_defaults:
        _install_threshold_defaults(Path(args.threshold_defaults))
    return report_command(args.plan, args.out, identify=args.identify, progress_lines=args.progress,
                          plan_label=args.plan_label)


def _install_threshold_defaults(path: Path) -> None:
    from osteoplan.core.safety.structures import set_user_threshold_defaults

    try:
        set_user_threshold_defaults(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise UsageError(f"threshold defaults {path}: {exc}") from None
