"""Plan files in the GUI: new, open, save, save as; autosave (every 30 s and after every edit)
and the offer to recover a plan after a crash. Nothing the user did is ever lost silently."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QFileDialog, QMessageBox

from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.files.autosave import Autosaver, find_recoverable
from osteoplan.core.files.plan_file import load_plan, save_plan, volume_content_hash
from osteoplan.core.imaging.identity import patient_fingerprint, study_fingerprint
from osteoplan.core.session import PlanSession, load_case_for_plan
from osteoplan.ui.tasks import BackgroundTask

if TYPE_CHECKING:
    from osteoplan.ui.window_api import PlanningWindow

AUTOSAVE_INTERVAL_MS = 30_000
PLAN_FILE_FILTER = "OsteoPlan plans (*.json);;All files (*)"


class PlanFiles(QObject):
    def __init__(self, window: "PlanningWindow") -> None:
        super().__init__(window)
        self.window = window
        self.autosaver = Autosaver()
        self._saved_revision = 0
        self._revision = 0
        self._timer = QTimer(self)
        self._timer.setInterval(AUTOSAVE_INTERVAL_MS)
        self._timer.timeout.connect(self.autosave)
        self._timer.start()
        self._task: BackgroundTask | None = None
        self._watched_history = None

    @property
    def session(self) -> PlanSession | None:
        return self.window.controller.session

    # --- change tracking -------------------------------------------------------------------
    def watch(self, session: PlanSession) -> None:
        """Called when a session is shown: autosave after each recorded edit (and undo/redo).
        A session that keeps the previous one's history (e.g. a label map added) keeps its state."""
        if self._watched_history is session.history:
            return
        if self._watched_history is not None:
            self._watched_history.changed.disconnect(self._on_history_changed)
        self._watched_history = session.history
        self._revision = self._saved_revision = 0
        session.history.changed.connect(self._on_history_changed)

    def _on_history_changed(self) -> None:
        self._revision += 1
        self.autosave()

    def mark_changed(self) -> None:
        """A change of the plan outside the undo history (e.g. the vertebral levels): unsaved, autosaved."""
        self._on_history_changed()

    @property
    def has_unsaved_changes(self) -> bool:
        return self._revision != self._saved_revision

    def autosave(self) -> None:
        if self.session is None or not self.has_unsaved_changes:
            return
        try:
            self.autosaver.save(self.session.plan, self.session.plan_path)
        except OsteoPlanError as exc:
            self.window.statusBar().showMessage(f"Autosave failed: {exc}", 10_000)

    # --- save ------------------------------------------------------------------------------------
    def save(self) -> bool:
        if self.session is None:
            return False
        if self.session.plan_path is None:
            return self.save_as()
        return self._write(self.session.plan_path)

    def save_as(self) -> bool:
        if self.session is None:
            return False
        path, _ = QFileDialog.getSaveFileName(self.window, "Save plan", str(self.session.plan_path or "plan.json"),
                                              PLAN_FILE_FILTER)
        return bool(path) and self._write(Path(path))

    def _write(self, path: Path) -> bool:
        plan = self.session.plan
        if plan.image.content_hash is None:
            plan.image = plan.image.model_copy(update={"content_hash": volume_content_hash(self.session.case.ct)})
        if plan.image.patient_fingerprint is None and plan.image.study_fingerprint is None:
            info = self.session.case.ct.info
            plan.image = plan.image.model_copy(update={"patient_fingerprint": patient_fingerprint(info),
                                                       "study_fingerprint": study_fingerprint(info)})
        try:
            save_plan(plan, path)
        except OsteoPlanError as exc:
            self.window.show_message("Plan not saved", str(exc))
            return False
        self.session.plan_path = path
        self._saved_revision = self._revision
        self.autosaver.discard()
        self.window.remember_recent(str(path))
        self.window.update_title()
        self.window.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def confirm_discard(self) -> bool:
        """Before replacing or closing the plan: save, discard, or cancel."""
        if self.session is None or not self.has_unsaved_changes:
            return True
        answer = QMessageBox.question(
            self.window, "Unsaved plan", "The plan has changes that are not saved in a plan file. Save them?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def close(self) -> None:
        """A clean exit: the autosave is no longer needed."""
        self._timer.stop()
        self.autosaver.discard()

    # --- open ------------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        if not self.confirm_discard():
            return
        path, _ = QFileDialog.getOpenFileName(self.window, "Open plan", "", PLAN_FILE_FILTER)
        if path:
            self.open(path)

    def open(self, path: str | Path, recovered_from=None) -> None:
        """Read the plan, then load its image in the background; a mismatching image asks first."""
        try:
            loaded = load_plan(path)
        except OsteoPlanError as exc:
            self.window.show_error(exc)
            return

        def work(progress):
            return load_case_for_plan(loaded, progress)

        def done(result) -> None:
            case, warnings = result
            another = next((w for w in warnings if "ANOTHER PATIENT" in w), None)
            changed = next((w for w in warnings if "is not the one this plan was made on" in w), None)
            if another and not self.window.ask("Another patient", another + "\n\nOpen the plan on this CT anyway?"):
                return
            if changed and not another and not self.window.ask("Image changed", changed + "\n\nOpen the plan anyway?"):
                return
            mismatch = [w for w in (another, changed) if w]
            plan_path = Path(path) if recovered_from is None else recovered_from.original_path
            session = PlanSession(case, loaded.plan, plan_path=plan_path)
            self.window.set_case(case, session)
            if recovered_from is not None:
                self._revision = 1  # recovered work is not saved in a plan file yet
                self.autosave()
                recovered_from.discard()
            else:
                self.window.remember_recent(str(path))
            notes = [w for w in [*loaded.warnings, *warnings] if w not in mismatch]
            if notes:
                self.window.show_message("Plan opened with warnings", "\n\n".join(notes))

        self._task = self.window.run_task(f"Opening the plan {Path(path).name}…", work, done)

    def offer_recovery(self) -> bool:
        """At start-up: offer the newest plan a crashed session left; True if one is being recovered."""
        for item in find_recoverable():
            when = item.saved_at.astimezone().strftime("%Y-%m-%d %H:%M")
            where = f" (plan file {item.original_path})" if item.original_path else " (never saved)"
            answer = QMessageBox.question(
                self.window, "Recover plan",
                f"OsteoPlan did not close normally. A plan with {item.trajectory_count} path(s), autosaved at "
                f"{when}{where}, can be recovered. Recover it?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No | QMessageBox.StandardButton.Discard)
            if answer == QMessageBox.StandardButton.Yes:
                self.open(item.plan_path, recovered_from=item)
                return True
            if answer == QMessageBox.StandardButton.Discard:
                item.discard()
        return False
