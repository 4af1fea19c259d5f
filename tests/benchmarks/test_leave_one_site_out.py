"""The leave-one-site-out protocol: no setting is chosen, and no model scored, on the site it is scored on."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from lesionwatch.io.nifti import write_nifti
from lesionwatch.io.volume import LabelVolume, Volume


def _kept(module: ModuleType, probability: np.ndarray) -> object:
    return module.KeptCase(Volume(probability.astype(np.float32), np.eye(4)))


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
        loso.choose_operating_point({"isbi": maps}, "isbi", truths)
    with pytest.raises(loso.ProtocolError, match="no held-out maps of a site other than isbi"):
        loso.choose_operating_point({}, "isbi", truths)


def test_the_operating_point_follows_the_other_sites_maps(
        load_benchmark: Callable[[str], ModuleType], tmp_path: Path) -> None:
    """A lesion scored 0.35 on the other site pulls the threshold under it; a faint blob at 0.25 keeps it above."""
    loso = load_benchmark("leave_one_site_out")
    maps, truths = _maps(loso, tmp_path, "lesjak", 0.35)
    threshold, _ = loso.choose_operating_point({"lesjak": maps}, "isbi", truths)
    assert threshold == 0.3
    maps, truths = _maps(loso, tmp_path, "lesjak", 0.9)
    threshold, _ = loso.choose_operating_point({"lesjak": maps}, "isbi", truths)
    assert threshold >= 0.3


def test_a_model_from_the_scored_site_is_refused(load_benchmark: Callable[[str], ModuleType]) -> None:
    loso = load_benchmark("leave_one_site_out")
    with pytest.raises(loso.ProtocolError, match="lesjak_cross/patient26, of the site it would score"):
        loso.check_model_unseen("lesjak", {"train_patients": ["mslesseg/P14", "lesjak_cross/patient26"]}, "m")
    loso.check_model_unseen("isbi", {"train_patients": ["mslesseg/P14", "lesjak_cross/patient26"]}, "m")


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


def test_options_after_the_double_dash_reach_every_training_run(
        load_benchmark: Callable[[str], ModuleType], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loso = load_benchmark("leave_one_site_out")
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("LESIONWATCH_SHARED_DATA", str(data))
    calls = []
    monkeypatch.setattr(loso, "train_folds", lambda *args: calls.append(args))
    argv = ["train", "--out", str(tmp_path / "run"), "--sites", "lesjak", "--", "--lesion-contrast", "1.2,2"]
    assert loso.main(argv) == 0
    (_, _folds, sites, threads, extra, seeds), = calls
    assert (sites, threads, extra, seeds) == (("lesjak",), 2, ["--lesion-contrast", "1.2,2"], loso.SEEDS)


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


RECIPE = {"iterations": 4200, "seed": 0, "max_minutes": 600.0}
PATIENTS = {"mslesseg": ["mslesseg/P14"], "lesjak": ["lesjak_cross/patient26"], "isbi": ["isbi2015/training01"]}


def _model(folder: Path, patients: list[str], recipe: dict) -> Path:
    from lesionwatch.models.card import CARD_NAME, ModelCard

    folder.mkdir(parents=True)
    card = ModelCard(name=folder.name, version="0", inputs=("flair", "t1"), spacing_mm=1.0, architecture="UNet3D",
                     architecture_args={}, weights_sha256="0" * 64, min_lesion_volume_mm3=5.0,
                     training={"train_patients": patients, "recipe": recipe})
    (folder / CARD_NAME).write_text(json.dumps(card.as_dict()))
    return folder


def _loso_run(loso: ModuleType, tmp_path: Path, recipes: dict[str, dict] | None = None,
              points: dict[str, tuple[float, float]] | None = None) -> object:
    """RUN/loso.json of three sites, each scored as `score` does, and RUN/final trained on every site."""
    from lesionwatch.models.card import read_card

    out = tmp_path / "run"
    sites = {}
    for site in loso.SITES:
        fold = _model(out / f"fold-{site}", [p for s, ps in PATIENTS.items() if s != site for p in ps],
                      (recipes or {}).get(site, RECIPE))
        maps, truths = _maps(loso, tmp_path, site, 0.9)
        point = (points or {}).get(site, loso.OPERATING_POINT)
        scores = [loso.score_mask(c, k.mask(*point), truths) for c, k in maps]
        sites[site] = loso.site_entry(site, str(fold), read_card(fold), point, scores)
    (out / "loso.json").write_text(json.dumps({"protocol": loso.PROTOCOL, "sites": sites}))
    _model(out / "final", [p for ps in PATIENTS.values() for p in ps], {**RECIPE, "max_minutes": 200.0})
    return loso.Folds(out)


def test_the_card_gets_the_table_and_the_fixed_operating_point(load_benchmark: Callable[[str], ModuleType],
                                                              tmp_path: Path) -> None:
    from lesionwatch.models.card import describe_card, read_card

    loso = load_benchmark("leave_one_site_out")
    folds = _loso_run(loso, tmp_path)
    loso.write_card(folds, folds.out / "final")
    card = read_card(folds.out / "final")
    assert (card.threshold, card.min_lesion_volume_mm3) == loso.OPERATING_POINT
    table = card.metrics["leave_one_site_out"]
    assert list(table) == list(loso.SITES)
    isbi = table["isbi"]
    assert isbi["trained_on"] == ["lesjak", "mslesseg"] and isbi["scans"] == 1
    # the lesion (64 voxels at 0.9) is found; the faint blob at 0.25 is not: Dice 1, one of one lesion
    assert isbi["dice"] == 1.0 and isbi["lesion_f1"] == 1.0
    assert isbi["per_scan"][0]["truth_ml"] == 0.06 and isbi["per_scan"][0]["volume_error"] == 0.0
    assert "leave-one-site-out" in card.metrics["protocol"]
    assert "| isbi | 1 | fold-isbi | 0.50 / 10 | 1.000 | 1.000 |" in loso.format_tables(
        loso.read_results(folds.out / "loso.json"))
    shown = describe_card(card)  # what `lesionwatch models show` prints
    assert "| isbi | lesjak, mslesseg | flair | 1 | 1.000 | 1.000 |" in shown and "threshold 0.5" in shown


def test_the_card_refuses_a_table_that_does_not_describe_the_model(load_benchmark: Callable[[str], ModuleType],
                                                                   tmp_path: Path) -> None:
    from lesionwatch.models.card import read_card

    loso = load_benchmark("leave_one_site_out")
    folds = _loso_run(loso, tmp_path / "recipe", recipes={"lesjak": {**RECIPE, "iterations": 1600}})
    with pytest.raises(loso.ProtocolError, match=r"lesjak fold .* another recipe"):
        loso.write_card(folds, folds.out / "final")
    assert read_card(folds.out / "final").metrics == {}  # nothing written
    folds = _loso_run(loso, tmp_path / "point", points={"isbi": (0.3, 10.0)})
    with pytest.raises(loso.ProtocolError, match="different operating points"):
        loso.write_card(folds, folds.out / "final")
    with pytest.raises(loso.ProtocolError, match="not on every site"):
        loso.write_card(folds, folds.out / "fold-isbi")
    results = json.loads((folds.out / "loso.json").read_text())
    del results["sites"]["isbi"]
    (folds.out / "loso.json").write_text(json.dumps(results))
    with pytest.raises(loso.ProtocolError, match="isbi not scored"):
        loso.write_card(folds, folds.out / "final")
    metrics = loso.write_card(folds, folds.out / "final", allow_missing=True)  # said so in the card instead
    assert metrics["not_scored"] == ["isbi"] and list(metrics["leave_one_site_out"]) == ["mslesseg", "lesjak"]
    assert read_card(folds.out / "final").metrics["not_scored"] == ["isbi"]
    results["sites"]["isbi"] = json.loads(json.dumps(results["sites"]["lesjak"]))  # scored later (same point)
    (folds.out / "loso.json").write_text(json.dumps(results))
    assert "not_scored" not in loso.write_card(folds, folds.out / "final")
    assert "not_scored" not in read_card(folds.out / "final").metrics  # the earlier card's list is gone too


def test_a_record_with_a_retired_option_turned_off_is_the_recipe_as_it_runs_now(
        load_benchmark: Callable[[str], ModuleType]) -> None:
    from dataclasses import asdict

    from lesionwatch.training.config import TrainingConfig

    loso = load_benchmark("leave_one_site_out")
    now = json.loads(json.dumps(asdict(TrainingConfig())))
    old = json.loads(json.dumps(now))
    old["augmentation"].update(p_tissue_contrast=0.0, match_small_lesions=False)
    assert loso.comparable_recipe(old) == loso.comparable_recipe(now)
    old["augmentation"]["p_tissue_contrast"] = 0.5  # it ran an augmentation the recipe no longer has
    assert loso.comparable_recipe(old) != loso.comparable_recipe(now)


def test_several_seeds_train_one_network_each_and_average_them(
        load_benchmark: Callable[[str], ModuleType], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each seed's network is trained once (a rerun resumes without retraining it) and the fold is their average,
    whose recorded recipe is its members' recipes."""
    import torch

    from lesionwatch.models.card import CARD_NAME, WEIGHTS_NAME, ModelCard, describe_card, read_card, sha256_file
    from lesionwatch.models.unet import UNet3D

    loso = load_benchmark("leave_one_site_out")
    trained = []

    def fake_train(data: Path, sites: tuple, out: Path, name: str, cache: Path, threads: int, extra: list) -> None:
        seed = int(extra[extra.index("--seed") + 1])
        trained.append((out.name, seed))
        torch.manual_seed(seed)
        out.mkdir(parents=True)
        torch.save(UNet3D(2, (4, 8)).state_dict(), out / WEIGHTS_NAME)
        card = ModelCard(name=name, version="0", inputs=("flair", "t1"), spacing_mm=1.0, architecture="UNet3D",
                         architecture_args={"in_channels": 2, "features": [4, 8]},
                         weights_sha256=sha256_file(out / WEIGHTS_NAME),
                         training={"train_patients": ["mslesseg/P14"], "recipe": {**RECIPE, "seed": seed}})
        (out / CARD_NAME).write_text(json.dumps(card.as_dict()))

    monkeypatch.setattr(loso, "run_train", fake_train)
    fold = tmp_path / "run" / "fold-isbi"
    loso.train_model(tmp_path, ("mslesseg",), fold, "loso-isbi", tmp_path / "cache", 1, [], (0, 1))
    assert trained == [("fold-isbi-seed0", 0), ("fold-isbi-seed1", 1)]
    card = read_card(fold)
    assert card.architecture == "UNetEnsemble" and card.architecture_args["members"] == 2
    assert [r["seed"] for r in loso.recipe_record(card.training)] == [0, 1]
    assert "the average of 2 networks (seeds 0, 1), 4200 iterations each" in describe_card(card)
    assert card.training["train_patients"] == ["mslesseg/P14"]
    # a table of single-seed folds does not describe this model, nor one of other seeds
    assert loso.comparable_record(loso.recipe_record(card.training)) != loso.comparable_record(RECIPE)
    assert loso.comparable_record(loso.recipe_record(card.training)) != loso.comparable_record(
        [{**RECIPE, "seed": 0}, {**RECIPE, "seed": 2}])
    shutil.rmtree(fold)  # the members stay trained: only the average is made again
    loso.train_model(tmp_path, ("mslesseg",), fold, "loso-isbi", tmp_path / "cache", 1, [], (0, 1))
    assert len(trained) == 2 and (fold / CARD_NAME).is_file()
