"""Plan files in the GUI: new, open, save, save as; autosave (every 30 s and after every edit)
and the offer to recover a plan after a crash. Nothing the user did is ever lost silently."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QFileDialog, QLabel, QMessageBox

from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.files.autosave import Autosaver, find_recoverable, newer_autosave_of
from osteoplan.core.files.plan_file import load_plan, plan_stamp, save_plan, volume_content_hash
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
        self._disk_stamp: str | None = None  # the plan file's bytes when opened or saved here (another writer?)
        self.autosave_problem = QLabel()
        self.autosave_problem.setStyleSheet("color: #b00020; font-weight: bold; padding: 0 6px;")
        self.autosave_problem.hide()
        window.statusBar().addPermanentWidget(self.autosave_problem)

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
        except OsteoPlanError as exc:  # shown until an autosave succeeds again, not overwritten by the next message
            self.autosave_problem.setText(f"⚠ Autosave failing: {exc}")
            self.autosave_problem.setToolTip(f"Autosave failing: {exc}. Save the plan to a file (Ctrl+S) meanwhile.")
            self.autosave_problem.show()
        else:
            self.autosave_problem.hide()

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

    def changed_on_disk_choice(self, path: Path) -> str:
        """The plan file was saved by someone else since it was opened here: "overwrite", "save as", "reload" or
        "cancel" (asked; tests replace this)."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Plan changed on disk",
                          f"{path.name} was changed on disk since you opened it (another window or program saved "
                          "it). Saving now would overwrite that version.", QMessageBox.StandardButton.Cancel,
                          self.window)
        buttons = {"save as": box.addButton("Save mine as…", QMessageBox.ButtonRole.AcceptRole),
                   "overwrite": box.addButton("Overwrite", QMessageBox.ButtonRole.DestructiveRole),
                   "reload": box.addButton("Reload theirs (lose my changes)", QMessageBox.ButtonRole.ResetRole)}
        box.setDefaultButton(buttons["save as"])
        box.exec()
        return next((name for name, button in buttons.items() if box.clickedButton() is button), "cancel")

    def _write(self, path: Path) -> bool:
        current = self.session.plan_path
        same_file = current is not None and Path(path).resolve() == Path(current).resolve()
        if same_file and self._disk_stamp is not None and plan_stamp(path) not in (None, self._disk_stamp):
            choice = self.changed_on_disk_choice(Path(path))
            if choice == "save as":
                return self.save_as()
            if choice == "reload":
                self._revision = self._saved_revision  # the user chose to drop this window's changes
                self.open(path)
                return False
            if choice != "overwrite":
                return False
        plan = self.session.plan
        if plan.image.content_hash is None:
            plan.image = plan.image.model_copy(update={"content_hash": volume_content_hash(self.session.case.ct)})
        if plan.image.patient_fingerprint is None and plan.image.study_fingerprint is None:
            info = self.session.case.ct.info
            plan.image = plan.image.model_copy(update={"patient_fingerprint": patient_fingerprint(info),
                                                       "study_fingerprint": study_fingerprint(info)})
        try:
            self._disk_stamp = save_plan(plan, path)
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

    def newer_autosave_choice(self, item) -> bool:
        """Open the newer autosave of the plan instead of the file? (asked; tests replace this)"""
        when = item.saved_at.astimezone().strftime("%Y-%m-%d %H:%M")
        return QMessageBox.question(
            self.window, "Newer autosave",
            f"OsteoPlan did not close normally after working on this plan: an autosave from {when}, newer than the "
            f"plan file, holds {item.trajectory_count} path(s). Open the autosave (recommended; save it to keep it) "
            "instead of the file?") == QMessageBox.StandardButton.Yes

    def open(self, path: str | Path, recovered_from=None) -> None:
        """Read the plan, then load its image in the background; a mismatching image asks first; a newer autosave
        of the same plan (work a crash interrupted) is offered first."""
        if recovered_from is None:
            newer = newer_autosave_of(path)
            if newer is not None and self.newer_autosave_choice(newer):
                path, recovered_from = newer.plan_path, newer
        try:
            loaded = load_plan(path)
        except OsteoPlanError as exc:
            self.window.show_error(exc)
            return

        plan_path = Path(path) if recovered_from is None else recovered_from.original_path

        def work(progress):
            from osteoplan.ui.loading import prepared_session

            case, warnings = load_case_for_plan(loaded, progress)
            return case, warnings, prepared_session(PlanSession(case, loaded.plan, plan_path=plan_path), progress)

        def done(result) -> None:
            case, warnings, session = result
            another = next((w for w in warnings if "ANOTHER PATIENT" in w), None)
            changed = next((w for w in warnings if "is not the one this plan was made on" in w), None)
            if another and not self.window.ask("Another patient", another + "\n\nOpen the plan on this CT anyway?"):
                return
            if changed and not another and not self.window.ask("Image changed", changed + "\n\nOpen the plan anyway?"):
                return
            mismatch = [w for w in (another, changed) if w]
            self.window.set_case(case, session)
            self._disk_stamp = loaded.stamp if recovered_from is None else plan_stamp(plan_path) if plan_path else None
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
