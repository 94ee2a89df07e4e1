"""Running the user's TotalSegmentator (a stand-in command here): its label map comes back named, a failure or a
cancel is a clear message and leaves nothing, and without it the message says how to install it."""

from __future__ import annotations

import threading

import pytest

from osteoplan.core.errors import LoadError
from osteoplan.core.imaging.demo import load_demo_case
from osteoplan.core.imaging.io import load_label_map
from osteoplan.core.imaging.io.totalsegmentator_run import output_path_for, segment_with_totalsegmentator
from tests.fixtures import fake_totalsegmentator


@pytest.fixture(scope="module")
def ct():
    return load_demo_case("spine").ct


def test_its_label_map_is_written_where_asked_and_read_with_its_header_names(ct, tmp_path, monkeypatch):
    (tmp_path / "bin").mkdir()
    fake_totalsegmentator.install(tmp_path / "bin", monkeypatch)
    messages = []
    output = segment_with_totalsegmentator(ct, tmp_path / "out" / "labels.nii.gz", fast=True,
                                           progress=lambda fraction, message: messages.append((fraction, message)))
    labels = load_label_map(output, reference=ct)
    assert set(labels.names.values()) == {"esophagus"} and labels.volume.array.sum() == 125
    assert any("Predicting part 3 of 3" in m for _, m in messages) and messages[-1][0] == 1.0
    assert [f for f, _ in messages] == sorted(f for f, _ in messages), "progress only goes forwards"


def test_a_failure_says_what_it_printed_and_leaves_no_file(ct, tmp_path, monkeypatch):
    (tmp_path / "bin").mkdir()
    fake_totalsegmentator.install(tmp_path / "bin", monkeypatch)
    monkeypatch.setenv("FAKE_TS_FAIL", "1")
    with pytest.raises(LoadError, match="(?s)exit code 3.*CUDA out of memory"):
        segment_with_totalsegmentator(ct, tmp_path / "labels.nii.gz")
    assert not list(tmp_path.glob("labels.nii.gz*"))


def test_cancel_stops_the_run_and_leaves_no_file(ct, tmp_path, monkeypatch):
    (tmp_path / "bin").mkdir()
    fake_totalsegmentator.install(tmp_path / "bin", monkeypatch)
    monkeypatch.setenv("FAKE_TS_SLOW", "1")
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    with pytest.raises(LoadError, match="cancelled"):
        segment_with_totalsegmentator(ct, tmp_path / "labels.nii.gz", cancel=cancel)
    assert not list(tmp_path.glob("labels.nii.gz*"))


def test_without_it_the_message_says_how_to_install_it(ct, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LoadError, match="pip install TotalSegmentator"):
        segment_with_totalsegmentator(ct, tmp_path / "labels.nii.gz")


def test_the_label_map_is_kept_in_the_data_folder_by_the_ct_content(ct, tmp_path, monkeypatch):
    monkeypatch.setenv("OSTEOPLAN_DATA_DIR", str(tmp_path))
    fast, full = output_path_for(ct, True), output_path_for(ct, False)
    assert fast.parent == tmp_path / "totalsegmentator" and fast != full and fast == output_path_for(ct, True)
