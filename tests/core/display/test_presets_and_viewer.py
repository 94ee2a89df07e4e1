import numpy as np
import pytest

from osteoplan.core.errors import ResourceError
from osteoplan.core.display.label_colors import label_color
from osteoplan.core.display.presets import display_presets, parse_display_presets
from osteoplan.core.resources import load_json_resource
from osteoplan.core.display.viewer import ViewerState


def test_window_level_presets_hold_the_clinical_values():
    presets = display_presets()
    values = {p.id: (p.width, p.level) for p in presets.window_level}
    assert values["bone"] == (1800, 400)
    assert values["soft_tissue"] == (400, 40)
    assert values["lung"] == (1500, -600)
    assert {p.id for p in presets.volume_rendering} >= {"bone", "soft_tissue"}


@pytest.mark.parametrize(
    "mutation, words",
    [
        (lambda d: d["window_level"][0].update(width=-5), "width"),
        (lambda d: d.update(default_window_level="nope"), "default_window_level"),
        (lambda d: d["volume_rendering"][0]["opacity"].reverse(), "sorted"),
        (lambda d: d["window_level"][0].pop("source"), "source"),
    ],
)
def test_invalid_presets_are_refused_with_the_field_named(mutation, words):
    data = load_json_resource("display_presets.json")
    mutation(data)
    with pytest.raises(ResourceError, match=words):
        parse_display_presets(data)


def test_viewer_state_emits_only_on_change():
    viewer = ViewerState()
    cursors, levels = [], []
    viewer.cursor_changed.connect(cursors.append)
    viewer.window_level_changed.connect(lambda w, l: levels.append((w, l)))
    viewer.set_cursor([1, 2, 3])
    viewer.set_cursor([1, 2, 3])
    viewer.set_cursor([np.nan, 0, 0])
    viewer.apply_window_level_preset("lung")
    viewer.apply_window_level_preset("lung")
    assert len(cursors) == 1 and np.allclose(cursors[0], [1, 2, 3])
    assert levels == [(1500, -600)]


def test_label_colours_come_from_data_and_unknown_names_are_stable():
    assert label_color("aorta") == pytest.approx((220 / 255, 30 / 255, 30 / 255))
    assert label_color("vertebrae_L2") == label_color("vertebrae_T12")
    assert label_color("some_new_structure") == label_color("some_new_structure")
    assert all(0 <= c <= 1 for c in label_color("some_new_structure"))
