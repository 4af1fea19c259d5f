from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from lesionwatch.cli.main import main
from lesionwatch.errors import ConfigError
from lesionwatch.io.nifti import write_nifti
from lesionwatch.io.volume import LabelVolume
from lesionwatch.synth import SynthConfig, generate_case
from lesionwatch.training.augmentation import (
    RAW_OFFSET_Z,
    T1_CSF_Z,
    AugmentationConfig,
    LesionIntensities,
    confluent_periventricular_lesions,
    cut_field_of_view,
    lesion_shape_bank,
    sample_patch,
    transplant_lesions,
)
from lesionwatch.training.config import TrainingConfig
from lesionwatch.training.data import LabelledCase, PreparedCase, find_tagged_cases, split_by_patient
from lesionwatch.workflows.train import attach_transplants, lesion_mask_files


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_tags_match_first_or_last_token_and_patients_group_time_points(tmp_path: Path) -> None:
    for tp in ("T1", "T2"):
        for seq in ("FLAIR", "T1", "MASK"):
            _touch(tmp_path / "P14" / tp / f"P14_{tp}_{seq}.nii.gz")
    _touch(tmp_path / "p26" / "FLAIR_N4_brain.nii.gz")
    _touch(tmp_path / "p26" / "T1_N4_brain.nii.gz")
    _touch(tmp_path / "p26" / "T1POST_N4_brain.nii.gz")
    _touch(tmp_path / "p26" / "GOLD_STANDARD.nii.gz")
    cases = find_tagged_cases(tmp_path, mask_tags=("mask", "gold"))
    by_name = {c.name: c for c in cases}
    assert set(by_name) == {"P14_T1", "P14_T2", "p26"}
    assert by_name["P14_T1"].flair.name == "P14_T1_FLAIR.nii.gz"
    assert by_name["P14_T1"].t1 is not None and by_name["P14_T1"].t1.name == "P14_T1_T1.nii.gz"
    assert by_name["p26"].t1 is not None and by_name["p26"].t1.name == "T1_N4_brain.nii.gz"
    assert by_name["P14_T1"].patient == by_name["P14_T2"].patient
    train, val = split_by_patient(cases, validation_patients=("P14",))
    assert {c.name for c in val} == {"P14_T1", "P14_T2"} and [c.name for c in train] == ["p26"]


def test_patches_have_the_right_shape_and_keep_labels_binary() -> None:
    rng = np.random.default_rng(0)
    label = np.zeros((70, 70, 70), np.uint8)
    label[30:36, 30:36, 30:36] = 1
    brain = np.zeros_like(label, bool)
    brain[5:65, 5:65, 5:65] = True
    channels = np.stack([np.where(label, 3.0, 0.0), np.zeros(label.shape)]).astype(np.float32)
    case = PreparedCase("c", "p", channels, label, brain)
    shapes = lesion_shape_bank([case])
    assert len(shapes) == 1
    cfg = AugmentationConfig(patch_size=(32, 32, 32), p_synthetic_lesions=1.0)
    for _ in range(5):
        img, lab = sample_patch(case, rng, cfg, shapes)
        assert img.shape == (2, 32, 32, 32) and lab.shape == (1, 32, 32, 32)
        assert set(np.unique(lab)) <= {0.0, 1.0}


@pytest.mark.slow
def test_train_resumes_and_finetune_starts_from_a_model(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for seed in (1, 2):
        case = generate_case(seed, SynthConfig(spacing_mm=3.0, skull_stripped=True, lesion_count=(6, 8),
                                               lesion_volume_mm3=(200.0, 2000.0)))
        tp = case.timepoints[0]
        folder = data / f"P{seed}"
        write_nifti(tp.images["flair"], folder / f"P{seed}_FLAIR.nii.gz")
        write_nifti(tp.images["t1"], folder / f"P{seed}_T1.nii.gz")
        write_nifti(tp.lesions.with_array((tp.lesions.array > 0).astype(np.uint8)), folder / f"P{seed}_MASK.nii.gz")
    model = tmp_path / "model"
    argv = ["--no-progress", "train", str(data), "--out", str(model), "--val-patients", "P2", "--cache",
            str(tmp_path / "cache"), "--name", "tiny-test", "--features", "4,8", "--blob-weight", "0.5",
            "--per-lesion-fraction", "0.5", "--drop-t1", "0.6"]
    assert main([*argv, "--iterations", "2"]) == 0
    first = json.loads((model / "model_card.json").read_text())
    assert first["training"]["iterations"] == 2
    assert first["training"]["validation_patients"] == ["data/P2"]
    recipe = first["training"]["recipe"]
    assert recipe["blob_weight"] == 0.5 and recipe["augmentation"]["per_lesion_fraction"] == 0.5
    assert recipe["augmentation"]["p_drop_t1"] == 0.6
    assert recipe["augmentation"]["p_thick_slices"] == AugmentationConfig().p_thick_slices
    # an interrupted run leaves its checkpoint and no card: rerunning resumes instead of starting again
    (model / "model_card.json").unlink()
    (model / "weights.pt").unlink()
    assert main([*argv, "--iterations", "4"]) == 0
    resumed = json.loads((model / "model_card.json").read_text())
    assert resumed["training"]["iterations"] == 4
    history = json.loads((model / "training_log.json").read_text())["history"]
    assert [h["iteration"] for h in history] == [2, 4]
    # a finished model is not overwritten without --force
    assert main([*argv, "--iterations", "2"]) == 2
    tuned = tmp_path / "tuned"
    assert main(["--no-progress", "finetune", str(data), "--from", str(model), "--out", str(tuned),
                 "--iterations", "2", "--val-patients", "P2", "--cache", str(tmp_path / "cache")]) == 0
    card = json.loads((tuned / "model_card.json").read_text())
    assert card["training"]["fine_tuned_from"] == "tiny-test"
    assert card["training"]["validation_patients"] == ["data/P2"]
    # --val-fraction 0: finetune trains on every patient given (no validation patient drawn)
    assert main(["--no-progress", "--force", "finetune", str(data), "--from", str(model), "--out", str(tuned),
                 "--iterations", "2", "--val-fraction", "0", "--cache", str(tmp_path / "cache")]) == 0
    assert json.loads((tuned / "model_card.json").read_text())["training"]["validation_patients"] == []
    # train --continue-from: a further stage from the model's weights, its architecture winning over --features;
    # at learning rate 0 the weights stay exactly the starting model's
    staged = tmp_path / "stage2"
    assert main(["--no-progress", "train", str(data), "--out", str(staged), "--continue-from", str(model),
                 "--features", "2,2", "--learning-rate", "0", "--iterations", "2", "--val-fraction", "0",
                 "--cache", str(tmp_path / "cache")]) == 0
    card = json.loads((staged / "model_card.json").read_text())
    assert card["training"]["fine_tuned_from"] == "tiny-test"
    assert card["training"]["base_training"]["iterations"] == 4  # the first stage's record travels with it
    assert card["architecture_args"]["features"] == [4, 8] and card["training"]["recipe"]["learning_rate"] == 0
    start, after = torch.load(model / "weights.pt"), torch.load(staged / "weights.pt")
    assert start.keys() == after.keys() and all(torch.equal(start[k], after[k]) for k in start)


def test_train_command_defaults_are_the_training_config_defaults() -> None:
    """`lesionwatch train` without the options trains TrainingConfig's recipe (no drift between the two)."""
    from lesionwatch.cli.training import train

    defaults = inspect.signature(train).parameters
    config = AugmentationConfig()
    assert defaults["drop_t1"].default == config.p_drop_t1
    assert defaults["thick_slices"].default == config.p_thick_slices
    assert defaults["per_lesion_fraction"].default == config.per_lesion_fraction
    assert defaults["confluent"].default == config.p_confluent and defaults["lesion_contrast"].default is None
    assert tuple(float(v) for v in defaults["thick_slice_mm"].default.split(",")) == config.thick_slice_mm
    assert (defaults["patch_size"].default,) * 3 == config.patch_size
    recipe = TrainingConfig()
    assert (defaults["iterations"].default, defaults["seed"].default, defaults["max_minutes"].default,
            defaults["learning_rate"].default, defaults["blob_weight"].default) == (
        recipe.iterations, recipe.seed, recipe.max_minutes, recipe.learning_rate, recipe.blob_weight)
    assert tuple(int(f) for f in defaults["features"].default.split(",")) == recipe.features


def _brain_case(affine: np.ndarray | None = None) -> PreparedCase:
    shape = (40, 40, 40)
    brain = np.zeros(shape, bool)
    brain[4:36, 4:36, 4:36] = True
    flair = np.where(brain, 0.5, 0.0).astype(np.float32)
    flair[18:22, 4:36, 4:36] = -2.0  # a CSF-dark sheet: tissue of no lesion
    t1 = np.where(brain, 1.0, 0.0).astype(np.float32)
    return PreparedCase("c", "p", np.stack([flair, t1]), np.zeros(shape, np.uint8), brain,
                        np.eye(4) if affine is None else affine)


def test_transplanted_lesions_take_tissue_only_brighten_flair_and_darken_t1() -> None:
    case = _brain_case()
    mask = np.zeros(case.label.shape, bool)
    mask[10:26, 15:25, 15:25] = True  # crosses the CSF sheet
    mask[0:3, 0:3, 0:3] = True  # outside the brain
    intensities = LesionIntensities(flair=(3.0, 3.5), t1=(-1.0, -0.5))
    img, lab = transplant_lesions(case.channels, case.label, case.brain, mask, np.random.default_rng(0),
                                  intensities)
    lesion = lab > 0
    assert lesion.any()
    assert not lesion[18:22].any() and not lesion[0:3, 0:3, 0:3].any()
    assert np.array_equal(lesion, mask & ndimage.binary_erosion(case.brain, iterations=2) & (case.channels[0] > -0.5))
    assert img[0][lesion].mean() > 2.0 and img[1][lesion].mean() < 0.5
    assert np.all(img[0] >= case.channels[0]) and np.all(img[1] <= case.channels[1])
    assert np.array_equal(img[0][18:22], case.channels[0][18:22])  # CSF untouched
    assert not case.label.any()  # inputs are not modified in place


def test_transplant_masks_attach_by_world_space_and_patches_follow_them(tmp_path: Path) -> None:
    shape = (40, 40, 40)
    same = np.zeros(shape, np.uint8)
    same[8:14, 8:14, 8:14] = 1
    write_nifti(LabelVolume(same, np.eye(4)), tmp_path / "same.nii.gz")
    far = np.eye(4)
    far[:3, 3] = 500.0  # another space: lands outside the brain
    write_nifti(LabelVolume(same, far), tmp_path / "elsewhere.nii.gz")
    files = lesion_mask_files((tmp_path,))
    assert [p.name for p in files] == ["elsewhere.nii.gz", "same.nii.gz"]
    (case,) = attach_transplants([_brain_case()], files)
    assert len(case.transplants) == 1
    assert np.array_equal(np.sort(case.transplants[0]), np.flatnonzero(same.astype(bool)))
    cfg = AugmentationConfig(patch_size=(24, 24, 24), p_transplant=1.0, p_synthetic_lesions=0.0, p_flip=0.0,
                             p_thick_slices=0.0, p_drop_t1=0.0, lesion_centred_fraction=1.0)
    rng = np.random.default_rng(0)
    for _ in range(3):
        _img, lab = sample_patch(case, rng, cfg, [], LesionIntensities())
        assert lab.sum() > 0  # the patch is centred on the transplant and carries it as label
    with pytest.raises(ConfigError, match="names no file"):
        lesion_mask_files((tmp_path / "missing",))


def test_zero_validation_fraction_keeps_every_patient_for_training() -> None:
    cases = [LabelledCase(f"P{i}", f"d/P{i}", Path("f"), Path("m")) for i in range(3)]
    train, val = split_by_patient(cases, validation_fraction=0.0)
    assert len(train) == 3 and val == []
    train, val = split_by_patient(cases, validation_fraction=0.2)
    assert len(train) == 2 and len(val) == 1


def test_field_of_view_cut_removes_one_side_of_an_axial_plane_through_the_brain() -> None:
    brain = np.zeros((32, 32, 40), bool)
    brain[4:28, 4:28, 5:35] = True
    img = np.where(brain, 1.0, 0.0)[None].repeat(2, axis=0).astype(np.float32)
    lab = (brain & (np.arange(40) % 7 == 0)).astype(np.uint8)
    sides = set()
    for seed in range(40):
        out_img, out_lab, out_brain = cut_field_of_view(img, lab, brain, np.random.default_rng(seed))
        kept = np.flatnonzero(out_brain.any(axis=(0, 1)))
        assert 2 <= kept.size <= 28  # a plane strictly inside the brain's slices (5-34)
        assert np.array_equal(np.diff(kept), np.ones(kept.size - 1))  # one side, in one piece
        sides.add("inferior removed" if kept[0] > 5 else "superior removed")
        assert not out_img[:, ~out_brain].any() and out_img[:, out_brain].all()
        assert np.array_equal(out_lab.astype(bool), lab.astype(bool) & out_brain)
    assert sides == {"inferior removed", "superior removed"}


def test_anchor_weight_keeps_fine_tuned_weights_near_the_start(tmp_path: Path) -> None:
    import torch

    from lesionwatch.models.unet import UNet3D
    from lesionwatch.training.trainer import train

    case = _brain_case()
    label = case.label.copy()
    label[8:14, 8:14, 8:14] = 1
    case = PreparedCase(case.name, case.patient, case.channels, label, case.brain, case.affine)
    aug = AugmentationConfig(patch_size=(16, 16, 16))
    moved = {}
    for weight in (0.0, 100.0):
        torch.manual_seed(0)
        net = UNet3D(2, (4, 8))
        start = torch.cat([p.detach().flatten().clone() for p in net.parameters()])
        config = TrainingConfig(features=(4, 8), iterations=6, batch_size=1, learning_rate=1e-2, augmentation=aug,
                                anchor_weight=weight)
        best, _ = train(net, [case], [], config, checkpoint=tmp_path / f"c{weight}.pt")
        net.load_state_dict(best)
        moved[weight] = float((torch.cat([p.detach().flatten() for p in net.parameters()]) - start).norm())
    assert 0 < moved[100.0] < 0.5 * moved[0.0]


def test_blob_loss_weighs_a_missed_small_lesion_like_a_large_one() -> None:
    import torch

    from lesionwatch.training.losses import blob_dice_loss, dice_bce_loss

    truth = np.zeros((1, 1, 32, 32, 32), np.float32)
    truth[0, 0, 2:22, 2:22, 2:22] = 1  # 8000 voxels
    truth[0, 0, 27:30, 27:30, 27:30] = 1  # 27 voxels
    components = torch.from_numpy(np.stack([[ndimage.label(truth[0, 0], np.ones((3, 3, 3)))[0]]]).astype(np.int64))
    y = torch.from_numpy(truth)
    perfect = torch.from_numpy(np.where(truth > 0, 20.0, -20.0).astype(np.float32))
    big_only = perfect.clone()
    big_only[0, 0, 27:30, 27:30, 27:30] = -20.0
    assert float(blob_dice_loss(perfect, components)) < 0.01
    # the global Dice barely notices the missed small lesion; the blob term counts it as half the lesions
    assert float(dice_bce_loss(big_only, y)) < 0.05
    assert 0.45 < float(blob_dice_loss(big_only, components)) < 0.55
    none = torch.zeros_like(components)
    loss = blob_dice_loss(perfect.requires_grad_(), none)
    assert float(loss) == 0.0
    loss.backward()  # still differentiable when a batch holds no lesion


def test_per_lesion_sampling_centres_small_lesions_as_often_as_large_ones() -> None:
    from lesionwatch.training.augmentation import index_lesions

    case = _brain_case()
    label = case.label.copy()
    label[6:16, 6:16, 6:16] = 1  # 1000 voxels
    label[30, 30, 30] = 1  # 1 voxel
    case = PreparedCase(case.name, case.patient, case.channels, label, case.brain, case.affine)
    (indexed,) = index_lesions([case])
    assert sorted(len(v) for v in indexed.lesions) == [1, 1000]
    rng = np.random.default_rng(0)
    cfg = AugmentationConfig(patch_size=(8, 8, 8), lesion_centred_fraction=1.0, per_lesion_fraction=1.0, p_flip=0,
                             p_synthetic_lesions=0, p_transplant=0, p_field_of_view_cut=0)
    small = 0
    for _ in range(200):
        _, lab = sample_patch(indexed, rng, cfg, [])
        small += int(lab.sum() == 1)  # a patch around the single voxel holds it alone
    assert 60 < small < 140  # about half; voxel-weighted sampling would give ~0.2


@pytest.mark.parametrize("ratio", [1.1, 2.0])
def test_tissue_relative_contrast_draws_lesions_from_barely_visible_to_very_bright(ratio: float) -> None:
    """A lesion `ratio` times its tissue in raw intensity: z + (ratio - 1)(z + m/s), m/s in RAW_OFFSET_Z; its T1
    anywhere from the tissue's own to CSF-dark."""
    case = _brain_case()
    mask = np.zeros(case.label.shape, bool)
    mask[8:14, 10:30, 10:30] = True
    img, lab = transplant_lesions(case.channels, case.label, case.brain, mask, np.random.default_rng(1),
                                  LesionIntensities(), contrast=(ratio, ratio))
    core = ndimage.binary_erosion(lab > 0, iterations=1)
    tissue = 0.5
    lo, hi = (tissue + (ratio - 1) * (tissue + offset) for offset in RAW_OFFSET_Z)
    assert core.any()
    assert lo - 0.1 <= float(np.median(img[0][core])) <= hi * 1.1
    assert float(img[1][core].min()) >= T1_CSF_Z - 0.1 and float(img[1][core].max()) <= 1.0 + 1e-5


def test_confluent_band_lines_the_ventricles_in_tissue_only() -> None:
    shape = (48, 48, 48)
    brain = np.zeros(shape, bool)
    brain[2:46, 2:46, 2:46] = True
    flair = np.where(brain, 0.3, 0.0).astype(np.float32)
    flair[20:28, 16:32, 18:30] = -3.0  # a ventricle deep in the brain
    channels = np.stack([flair, np.where(brain, 1.0, 0.0).astype(np.float32)])
    img, lab = confluent_periventricular_lesions(channels, np.zeros(shape, np.uint8), brain,
                                                 np.random.default_rng(2), (1.2, 1.4))
    ventricle = flair < -2
    distance = ndimage.distance_transform_edt(~ventricle)
    lesion = lab > 0
    assert lesion.sum() > 50
    assert not (lesion & ventricle).any() and distance[lesion].max() <= 10.5
    assert img[0][lesion].mean() > 0.3 + 0.2 * (0.3 + RAW_OFFSET_Z[0]) * 0.5
    without = confluent_periventricular_lesions(np.stack([np.where(brain, 0.3, 0.0).astype(np.float32)] * 2),
                                                np.zeros(shape, np.uint8), brain, np.random.default_rng(2),
                                                (1.2, 1.4))
    assert not without[1].any()  # no ventricle in the patch: nothing drawn


def test_a_thick_slice_patch_stays_aligned_with_its_labels() -> None:
    """The simulated 2D acquisition blurs a patch along one axis but leaves its structures where its labels are."""
    from lesionwatch.training.augmentation import _thick_slices

    patch = np.zeros((16, 16, 48), np.float32)
    patch[:, :, 20:23] = 1.0  # centred on voxel 21
    for thickness in (3.0, 4.4, 5.0):
        out = _thick_slices(patch, 2, thickness)
        assert out.shape == patch.shape
        profile = out[8, 8]
        assert profile.max() < 1.0 and profile[10:33].sum() == pytest.approx(3.0, rel=0.1)
        assert (profile * np.arange(48)).sum() / profile.sum() == pytest.approx(21.0, abs=0.6)
    assert np.allclose(_thick_slices(np.ones((8, 8, 30), np.float32), 0, 4.0), 1.0)  # the edges extended, not 0
