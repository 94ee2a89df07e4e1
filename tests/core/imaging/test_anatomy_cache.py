"""What is found on a CT is cached by its content hash, and the cache never serves a wrong or broken entry."""

from __future__ import annotations

import numpy as np

from osteoplan.core.imaging import automatic
from osteoplan.core.imaging.automatic import with_automatic_anatomy
from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.io import load_image
from tests.conftest import shared_data_path


def _counting_search(monkeypatch) -> list:
    calls = []
    real = automatic.find_anatomy

    def counting(ct, wanted, progress=None):
        calls.append(wanted)
        return real(ct, wanted, progress)

    monkeypatch.setattr(automatic, "find_anatomy", counting)
    return calls


def test_a_ct_reopened_gets_the_same_structures_from_the_cache_without_a_search(tmp_path, monkeypatch):
    monkeypatch.setenv("OSTEOPLAN_CACHE_DIR", str(tmp_path))
    calls = _counting_search(monkeypatch)
    ct = load_image(shared_data_path("ct_abdomen_3mm_labels", "ct.nii.gz")).volume
    first = with_automatic_anatomy(Case(ct=ct))
    again = with_automatic_anatomy(Case(ct=load_image(shared_data_path("ct_abdomen_3mm_labels", "ct.nii.gz")).volume))
    assert len(calls) == 1, "the second opening is served by the cache"
    assert np.array_equal(first.labels.volume.array, again.labels.volume.array)
    assert first.labels.names == again.labels.names and first.automatic == again.automatic
    # another CT (one voxel changed) is another entry: searched again
    changed = ct.array.copy()
    changed[0, 0, 0] += 1
    with_automatic_anatomy(Case(ct=ct.with_array(changed)))
    assert len(calls) == 2


def test_a_broken_cache_entry_is_found_again_and_an_unwritable_cache_only_costs_time(tmp_path, monkeypatch):
    monkeypatch.setenv("OSTEOPLAN_CACHE_DIR", str(tmp_path))
    calls = _counting_search(monkeypatch)
    ct = load_image(shared_data_path("ct_abdomen_3mm_labels", "ct.nii.gz")).volume
    first = with_automatic_anatomy(Case(ct=ct))
    (entry,) = (tmp_path / "anatomy").glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:100])  # truncated: a crash while writing, a full disk
    again = with_automatic_anatomy(Case(ct=ct))
    assert len(calls) == 2 and np.array_equal(first.labels.volume.array, again.labels.volume.array)
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("OSTEOPLAN_CACHE_DIR", str(blocked))
    assert with_automatic_anatomy(Case(ct=ct)).labels.names == first.labels.names
