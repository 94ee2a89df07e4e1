"""Running the user's own TotalSegmentator on the open CT, when it is installed.

OsteoPlan does not ship TotalSegmentator or its model weights and downloads nothing itself: it
runs the ``TotalSegmentator`` command found on the PATH (which fetches its weights on its first
run, as its own documentation says), on the CT exactly as OsteoPlan holds it (written to a
temporary NIfTI, so a DICOM series and the label map share one grid), with ``--ml`` (one label map
whose names are in its header, which `load_label_map` reads) and ``--fast`` when asked (the 3 mm
model: minutes on a CPU instead of tens of minutes). The result is written atomically to the
output path the caller chooses; a cancelled or failed run leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections import deque
from pathlib import Path

import SimpleITK as sitk

from osteoplan.core.errors import LoadError
from osteoplan.core.imaging.content_hash import HASH_PREFIX, volume_content_hash
from osteoplan.core.imaging.volume import Volume
from osteoplan.core.resources import user_data_root

from .common import ProgressCallback, report

COMMAND = "TotalSegmentator"
INSTALL_HINT = ("TotalSegmentator is not installed (no 'TotalSegmentator' command on the PATH). Install it in "
                "OsteoPlan's Python environment with:  pip install TotalSegmentator  (it needs PyTorch; a GPU makes it "
                "much faster; it downloads its model weights, about 1-2 GB, the first time it runs), then restart "
                "OsteoPlan. Meanwhile OsteoPlan finds the canal, nerve-root zones, vertebrae, pelvis, air and (on "
                "contrast CT) the aorta/IVC itself, and says what it could not check.")
EXPECTED_LINES = {True: 12, False: 40}  # about how many lines a run prints (--fast or not): a progress estimate


def output_path_for(ct: Volume, fast: bool) -> Path:
    """Where TotalSegmentator's label map of `ct` is kept (the user's data folder, by the CT's content hash): the
    plan refers to it, so it must outlive the session; the same CT segmented again reuses the name."""
    digest = volume_content_hash(ct).removeprefix(HASH_PREFIX)[:20]
    return user_data_root() / "totalsegmentator" / f"{digest}{'_fast' if fast else ''}.nii.gz"


def totalsegmentator_command() -> str | None:
    """The TotalSegmentator executable on the PATH, or None when it is not installed."""
    return shutil.which(COMMAND)


def segment_with_totalsegmentator(ct: Volume, output: Path, *, fast: bool = True,
                                  progress: ProgressCallback | None = None,
                                  cancel: threading.Event | None = None) -> Path:
    """Run TotalSegmentator on `ct`; its label map (with its names) is written to `output` and returned.
    Raises `LoadError` when it is not installed, fails or is cancelled."""
    executable = totalsegmentator_command()
    if executable is None:
        raise LoadError(INSTALL_HINT)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="osteoplan-totalseg-") as work:
        source, result = Path(work) / "ct.nii.gz", Path(work) / "labels.nii.gz"
        report(progress, 0.0, "Writing the CT for TotalSegmentator…")
        sitk.WriteImage(ct.to_sitk(), str(source))
        command = [executable, "-i", str(source), "-o", str(result), "--ml"] + (["--fast"] if fast else [])
        report(progress, 0.05, "TotalSegmentator is running" + (" (--fast)" if fast else "") + "…")
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   errors="replace")
        stop_watch = threading.Event()

        def watch() -> None:  # reading the output blocks: a second thread stops the run on Cancel
            while not stop_watch.wait(0.2):
                if cancel is not None and cancel.is_set():
                    process.terminate()
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        last = deque(maxlen=8)
        try:
            for count, line in enumerate(process.stdout, start=1):
                if line.strip():
                    last.append(line.strip())
                    report(progress, 0.05 + 0.9 * min(count / EXPECTED_LINES[fast], 0.99),
                           f"TotalSegmentator: {line.strip()[:90]}")
            code = process.wait()
        finally:
            stop_watch.set()
            watcher.join()
            if process.poll() is None:
                process.kill()
        if cancel is not None and cancel.is_set():
            raise LoadError("TotalSegmentator was cancelled: no label map was added.")
        if code != 0 or not result.is_file():
            tail = "\n".join(last) or "(no output)"
            options = "--ml" + (" --fast" if fast else "")
            raise LoadError(f"TotalSegmentator failed (exit code {code}); its last lines:\n{tail}\n"
                            f"To see more, run it in a terminal: {COMMAND} -i <the CT> -o labels.nii.gz {options}")
        temporary = output.with_name(output.name + ".part")
        shutil.copyfile(result, temporary)
        os.replace(temporary, output)
    report(progress, 1.0, "TotalSegmentator is done")
    return output
