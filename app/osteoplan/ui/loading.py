"""Opening images, label maps and demo cases from the GUI: in the background, with progress,
a series picker for multi-series folders, and a message (never a crash) on bad input."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QProgressDialog

from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.demo import load_demo_case
from osteoplan.ui.dialogs import SeriesPickerDialog
from osteoplan.ui.tasks import BackgroundTask, start

if TYPE_CHECKING:
    from osteoplan.core.imaging.io import SeveralSeriesError
    from osteoplan.ui.window_api import PlanningWindow

IMAGE_FILE_FILTER = "Images (*.nii *.nii.gz *.nrrd *.nhdr *.mha *.mhd *.dcm);;All files (*)"
LABEL_NAME_SOURCES = {  # LabelMap.names_source, for the status bar
    "names_file": "the names file", "stem_json": "the .json beside it", "labels_json": "labels.json",
    "header": "its header", "file_stem": "its file name", "mask_files": "the mask file names",
    "totalsegmentator_v1": "TotalSegmentator v1's table", "totalsegmentator_v2": "TotalSegmentator v2's table",
    "none": "nowhere (label_N)",
}


def run_task(window: "PlanningWindow", title: str, work: Callable, on_success: Callable, quiet: bool = False,
             cancel: threading.Event | None = None) -> BackgroundTask:
    """Run `work(progress)` off the UI thread with a progress dialog (none if `quiet`);
    errors become messages, never crashes. With a `cancel` event the dialog has a Cancel
    button that sets it (the work checks it and stops)."""
    dialog = None
    if not quiet:
        dialog = QProgressDialog(title, "Cancel", 0, 1000, window)
        dialog.setWindowTitle("OsteoPlan")
        if cancel is None:
            dialog.setCancelButton(None)  # loaders cannot stop half-way; the window stays responsive meanwhile
        else:
            dialog.canceled.connect(cancel.set)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(400)
        dialog.setValue(0)
    task = BackgroundTask(work)
    window._tasks.add(task)

    def finish() -> None:
        if dialog is not None:
            dialog.reset()
            dialog.deleteLater()
        window._tasks.discard(task)

    def progress(fraction: float, message: str) -> None:
        if dialog is not None:
            dialog.setValue(int(1000 * min(max(fraction, 0.0), 0.999)))
            if message:
                dialog.setLabelText(message)
        elif title:  # quiet work reports in the status bar, the window stays fully usable
            window.statusBar().showMessage(f"{title} {100 * fraction:.0f}%  {message}", 5000)

    def succeeded(result) -> None:
        finish()
        if quiet and title:
            window.statusBar().showMessage(f"{title}: done", 3000)
        on_success(result)

    def failed(error: BaseException) -> None:
        finish()
        if cancel is not None and cancel.is_set():
            window.statusBar().showMessage(f"{title.rstrip('…')}: cancelled", 5000)
            return
        from osteoplan.core.imaging.io import SeveralSeriesError

        if isinstance(error, SeveralSeriesError):
            _pick_series(window, error)
        else:
            window.show_error(error)

    def alive(callback: Callable) -> Callable:
        """Work that ends after its window was closed (and deleted) is dropped, not reported to a dead window."""
        def guarded(*args) -> None:
            if shiboken6.isValid(window):
                callback(*args)
        return guarded

    task.signals.progress.connect(alive(progress))
    task.signals.succeeded.connect(alive(succeeded))
    task.signals.failed.connect(alive(failed))
    start(task)
    return task


def prepared_session(session, progress=None):
    """`session` with its structure set built (skin, bone, every label), and for a plan with paths their distance
    fields too (the needles are measured as soon as they are drawn): in the worker, so that the window draws the
    case at once instead of building them on the UI thread (seconds to tens of seconds on a real CT)."""
    if progress is not None:
        progress(0.97, "Building the critical structures…")
    _ = session.structures
    if session.plan.trajectories:
        session.prepare(None if progress is None else lambda fraction, message: progress(
            0.97 + 0.03 * fraction, f"Distance fields: {message}"))
    return session


def _pick_series(window: "PlanningWindow", error: SeveralSeriesError) -> None:
    picker = SeriesPickerDialog(error.path or "", error.series, window)
    if picker.exec() == QDialog.DialogCode.Accepted and picker.selected_uid():
        open_image(window, error.path, picker.selected_uid())


def open_image(window: "PlanningWindow", path: str, series_uid: str | None = None) -> BackgroundTask:
    from osteoplan.core.imaging.automatic import with_automatic_anatomy
    from osteoplan.core.imaging.io import load_image

    def work(progress):  # in the worker: reading, the structures a CT arrives without, and its structure set
        from osteoplan.core.session import PlanSession

        result = load_image(path, series_uid, progress)
        case = with_automatic_anatomy(Case(ct=result.volume, source=str(path), warnings=tuple(result.warnings)),
                                      progress=progress)
        return case, prepared_session(PlanSession(case), progress)

    def loaded(found) -> None:
        case, session = found
        window.set_case(case, session)
        window.show_load_warnings(case)
        window.remember_recent(str(path))

    return run_task(window, f"Loading {path}…", work, loaded)


def open_label_map(window: "PlanningWindow", path: str) -> BackgroundTask:
    from osteoplan.core.imaging.io import load_label_map

    case = window.case

    def loaded(labels, labelled: Case, session) -> None:
        from osteoplan.core.planning.plan import LabelsRef

        # the plan and its undo history carry over onto the labelled case
        session.plan.labels = LabelsRef(path=str(path))
        window.set_case(labelled, session)
        window.statusBar().showMessage(f"Label map: {len(labels.names)} structure(s), names from "
                                       f"{LABEL_NAME_SOURCES.get(labels.names_source, labels.names_source)}", 8000)
        if labels.notes:  # unnamed labels are not checked as hazards: the user must see it, not only a status line
            window.show_message("Label map loaded with notes", "\n\n".join(labels.notes))

    def work(progress):
        from osteoplan.core.imaging.automatic import with_automatic_anatomy
        from osteoplan.core.session import PlanSession

        labels = load_label_map(path, reference=case.ct, progress=progress)
        labelled = with_automatic_anatomy(case.with_labels(labels), progress=progress)  # what they lack
        old = window.session
        session = PlanSession(labelled, old.plan, old.catalog, old.history, old.plan_path) if old is not None else None
        return labels, labelled, prepared_session(session or PlanSession(labelled), progress)

    return run_task(window, f"Loading label map {path}…", work, lambda found: loaded(*found))


def open_demo(window: "PlanningWindow", name: str) -> BackgroundTask:
    return run_task(window, f"Preparing the {name} demo case (first time only: a few seconds)…",
                    lambda progress: load_demo_case(name), window.set_case)


def segment_with_totalsegmentator(window: "PlanningWindow", fast: bool) -> BackgroundTask:
    """Run the user's TotalSegmentator on the open CT in the background (Cancel stops it), then load its label map
    as File > Open label map does."""
    from osteoplan.core.imaging.io.totalsegmentator_run import output_path_for
    from osteoplan.core.imaging.io.totalsegmentator_run import segment_with_totalsegmentator as run

    ct, cancel = window.case.ct, threading.Event()

    def work(progress):
        return run(ct, output_path_for(ct, fast), fast=fast, progress=progress, cancel=cancel)

    return run_task(window, "Segmenting with TotalSegmentator…", work, lambda path: open_label_map(window, str(path)),
                    cancel=cancel)
