"""`osteoplan propose`: the JSON contract, the text output and the exit codes."""

from __future__ import annotations

import json

import pytest

from osteoplan.cli import SUBCOMMANDS, main
from osteoplan.core.files.plan_file import save_plan
from osteoplan.core.imaging.phantom import landmarks
from osteoplan.core.planning.plan import ImageRef, Plan

CANDIDATE_KEYS = {"entry_lps", "target_lps", "min_margin_mm", "closest_structure", "score"}


@pytest.fixture(scope="module")
def spine_plan(tmp_path_factory):
    path = tmp_path_factory.mktemp("propose") / "plan.json"
    save_plan(Plan(ImageRef(path="demo:spine")), path)
    return path


def _point(name: str) -> str:
    return ",".join(f"{v:g}" for v in landmarks("spine")[name])


def test_propose_json_has_the_exact_keys_best_first(spine_plan, capsys):
    assert "propose" in SUBCOMMANDS
    code = main(["propose", str(spine_plan), "--target", _point("L2_body_center"), "--technique", "transpedicular",
                 "--json", "--count", "3"])
    captured = capsys.readouterr()
    assert code == 0
    report = json.loads(captured.out)
    assert set(report) == {"candidates", "pairs"}
    assert 1 <= len(report["candidates"]) <= 3
    for candidate in report["candidates"]:
        assert set(candidate) == CANDIDATE_KEYS
        assert len(candidate["entry_lps"]) == len(candidate["target_lps"]) == 3
        assert candidate["min_margin_mm"] > 0 and isinstance(candidate["closest_structure"], str)
        assert candidate["target_lps"] == pytest.approx(list(landmarks("spine")["L2_body_center"]))
    scores = [c["score"] for c in report["candidates"]]
    assert scores == sorted(scores, reverse=True)
    assert report["pairs"]
    for pair in report["pairs"]:
        assert set(pair) == {"left", "right", "score"}
        assert set(pair["left"]) == set(pair["right"]) == CANDIDATE_KEYS
        assert pair["left"]["entry_lps"][0] > 0 > pair["right"]["entry_lps"][0]  # LPS: +x is the patient's left
        assert pair["score"] == pytest.approx(min(pair["left"]["score"], pair["right"]["score"]), abs=1e-3)


def test_no_safe_path_is_exit_0_with_empty_lists_and_a_reason(spine_plan, capsys):
    code = main(["propose", str(spine_plan), "--target", _point("canal_center_L2"), "--technique", "transpedicular",
                 "--json"])
    captured = capsys.readouterr()
    assert code == 0
    assert json.loads(captured.out) == {"candidates": [], "pairs": []}
    assert "No safe transpedicular path" in captured.err


def test_text_output_lists_the_ranked_lesion_candidates(spine_plan, capsys):
    code = main(["propose", str(spine_plan), "--lesion", "lesion", "--technique", "transpedicular", "--count", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "1. L2 transpedicular" in out and "2. L2 transpedicular" in out and "3. " not in out.split("pairs")[0]
    assert "margin" in out and "mm to spinal_canal" in out and "breach" in out


@pytest.mark.parametrize("arguments, message", [
    (["--lesion", "lesion_T9", "--technique", "transpedicular"], "the lesion labels of this case are: lesion"),
    (["--target", "0,0,900", "--technique", "transpedicular"], "outside the image"),
    (["--target", "0,0", "--technique", "transpedicular"], "three LPS coordinates"),
    (["--target", "0,0,0", "--technique", "transfemoral"], "invalid choice"),
    (["--target", "0,0,0", "--lesion", "lesion", "--technique", "transpedicular"], "not allowed with"),
    (["--target", "0,0,0", "--technique", "transpedicular", "--count", "0"], "--count"),
])
def test_bad_input_is_exit_2_with_one_line(spine_plan, capsys, arguments, message):
    code = main(["propose", str(spine_plan), *arguments])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err
