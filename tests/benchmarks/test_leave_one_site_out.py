"""The leave-one-site-out protocol: no setting is chosen, and no model scored, on the site it is scored on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from lesionwatch.io.nifti import write_nifti
from lesionwatch.io.volume import LabelVolume, Volume


def _kept(module: ModuleType, probability: np.ndarray) -> object:
    return module.KeptCase(Volume(probability.astype(np.float32), np.eye(4)), None, None, np.eye(4), 0.0, None, None,
                           0.0, 0.0)


def _maps(module: ModuleType, tmp_path: Path, site: str, lesion_probability: float) -> tuple[list, dict]:
    """One scan of `site`: a 4x4x4 lesion scored `lesion_probability`, and a faint false-positive blob at 0.25."""
    truth = np.zeros((24, 24, 24), np.uint8)
    truth[4:8, 4:8, 4:8] = 1
    prob = np.where(truth > 0, lesion_probability, 0.0)
    prob[15:18, 15:18, 15:18] = 0.25
    path = write_nifti(LabelVolume(truth, np.eye(4)), tmp_path / f"{site}_truth.nii.gz")
    case = module.SiteCase(f"{site}_scan", site, f"{site}/p", path, None, (path,))
    return [(case, _kept(module, prob))], {path: LabelVolume(truth, np.eye(4))}


def test_choosing_an_operating_point_on_the_scored_site_is_refused(
        load_benchmark: Callable[[str], ModuleType], tmp_path: Path) -> None:
    loso = load_benchmark("leave_one_site_out")
    maps, truths = _maps(loso, tmp_path, "isbi", 0.35)
    with pytest.raises(loso.ProtocolError, match="include isbi's own scans"):
        loso.choose_operating_point({"isbi": maps}, "isbi", (), truths)
    with pytest.raises(loso.ProtocolError, match="no held-out maps of a site other than isbi"):
        loso.choose_operating_point({}, "isbi", (), truths)


def test_the_operating_point_follows_the_other_sites_maps(
        load_benchmark: Callable[[str], ModuleType], tmp_path: Path) -> None:
    """A lesion scored 0.35 on the other site pulls the threshold under it; a faint blob at 0.25 keeps it above."""
    loso = load_benchmark("leave_one_site_out")
    maps, truths = _maps(loso, tmp_path, "lesjak", 0.35)
    threshold, _ = loso.choose_operating_point({"lesjak": maps}, "isbi", (), truths)
    assert threshold == 0.3
    maps, truths = _maps(loso, tmp_path, "lesjak", 0.9)
    threshold, _ = loso.choose_operating_point({"lesjak": maps}, "isbi", (), truths)
    assert threshold >= 0.3


def test_a_model_or_rule_from_the_scored_site_is_refused(load_benchmark: Callable[[str], ModuleType]) -> None:
    loso = load_benchmark("leave_one_site_out")
    with pytest.raises(loso.ProtocolError, match="lesjak_cross/patient26, of the site it would score"):
        loso.check_model_unseen("lesjak", {"train_patients": ["mslesseg/P14", "lesjak_cross/patient26"]}, "m")
    loso.check_model_unseen("isbi", {"train_patients": ["mslesseg/P14", "lesjak_cross/patient26"]}, "m")
    with pytest.raises(loso.ProtocolError, match="grow chosen on mslesseg itself"):
        loso.check_rules_unchosen("mslesseg", loso.VARIANTS["grown"], "grown")
    loso.check_rules_unchosen("isbi", loso.VARIANTS["segment_defaults"], "segment_defaults")


def test_scoring_a_site_with_a_model_that_saw_it_exits_2_before_any_work(
        load_benchmark: Callable[[str], ModuleType], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped model trained on MSLesSeg: scoring MSLesSeg with it is refused, and nothing is written."""
    loso = load_benchmark("leave_one_site_out")
    data = tmp_path / "data"
    data.mkdir()
    (data / "README.md").write_text("empty shared data")
    monkeypatch.setenv("LESIONWATCH_SHARED_DATA", str(data))
    out = tmp_path / "run"
    assert loso.main(["score", "--out", str(out), "--sites", "mslesseg", "--model", "mslesseg=default"]) == 2
    assert "of the site it would score (mslesseg)" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.shared_data
def test_the_three_sites_and_their_raters_are_found(load_benchmark: Callable[[str], ModuleType],
                                                    shared_data: Path) -> None:
    loso = load_benchmark("leave_one_site_out")
    cases = loso.site_cases(shared_data)
    assert [c.name for c in cases["lesjak"]] == ["lesjak_patient26"]
    assert len(cases["mslesseg"]) == 5 and all(c.t1 is not None for c in cases["mslesseg"])
    assert [len(c.truths) for c in cases["isbi"]] == [2, 2, 2] and all(c.t1 is None for c in cases["isbi"])
    args = loso.training_arguments(shared_data, ("mslesseg", "isbi"))
    assert "--lesion-masks" not in args  # the Lesjak layouts stay out of a fold that scores Lesjak
