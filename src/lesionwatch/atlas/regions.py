"""Anatomical regions of a patient's brain, from the MNI template registered to it.

The MNI152 2009a tissue maps that nilearn ships (`atlas.mni`) are registered affinely (Mattes MI) to the patient's
preprocessed FLAIR (or T1), then their regions are carried over: lateral ventricles, cortex, infratentorial brain
(brainstem and cerebellum), white matter. The ventricles are refined with the patient's own FLAIR, where CSF is
dark, because the template's ventricles rarely match an MS patient's (often enlarged) ones. The intracranial volume
is the template's intracranial volume scaled by the registration's determinant (the SIENAX-style estimate; Smith et
al., NeuroImage 2002).

Deriving the template's regions from the tissue maps takes about 9 s (1 mm distance maps), so the package ships
them, made by the same code with the default settings: `templates/mni152_2009a_regions.npz`, rebuilt by
`scripts/make_region_template.py` and checked against a fresh derivation by the tests. Other settings derive them.
How lesions are classified by their distance to these regions is `lesions.locations`.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lesionwatch.atlas.mni import Anatomy, load_mni_anatomy
from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.preprocessing.registration import RegistrationConfig, register
from lesionwatch.preprocessing.resampling import Grid, resample

log = logging.getLogger(__name__)

REGION_LABELS = {1: "ventricles", 2: "cortex", 3: "infratentorial", 4: "white_matter", 5: "other_brain"}
"""Values of the region map (0 = outside the brain)."""
VENTRICLES, CORTEX, INFRATENTORIAL, WHITE_MATTER, OTHER_BRAIN = 1, 2, 3, 4, 5

@dataclass(frozen=True)
class RegionConfig:
    """How the template's regions are derived and brought to the patient.

    Attributes:
        registration: template-to-patient registration (affine, coarse levels only: regions need ~2 mm).
        template_spacing_mm: spacing of the template used as the moving image.
        ventricle_search_mm: how far around the template's ventricles the patient's dark CSF is searched.
        csf_flair_z: normalised FLAIR (robust z) below which a voxel is taken as CSF.
        cortex_max_depth_mm: cortex is template grey matter at most this deep below the intracranial surface, and...
        cortex_min_ventricle_distance_mm: ...at least this far from the ventricles (keeps deep grey matter out).
    """

    registration: RegistrationConfig = field(default_factory=lambda: RegistrationConfig(
        transform="affine", shrink_factors=(4, 2), smoothing_mm=(4.0, 2.0), iterations=100, min_samples=20000))
    template_spacing_mm: float = 2.0
    ventricle_search_mm: float = 5.0
    csf_flair_z: float = -1.5
    cortex_max_depth_mm: float = 40.0
    cortex_min_ventricle_distance_mm: float = 6.0


@dataclass(frozen=True)
class RegionMap:
    """Regions of one patient's brain.

    Attributes:
        regions: label map (values in `REGION_LABELS`) on the grid it was made for.
        intracranial_volume_mm3: estimated intracranial volume (template ICV / registration determinant).
        patient_to_template: 4x4 RAS+ matrix from patient world mm to MNI world mm.
        flair_tissue_z: median normalised FLAIR of the template's ventricles (eroded), white matter (below robust
            z 1: lesions left out) and cortex, before the ventricles are refined on the FLAIR itself (empty without
            a FLAIR): what the input's contrast checks read (`lesionwatch.workflows.qc.contrast_problems`).
    """

    regions: LabelVolume
    intracranial_volume_mm3: float
    patient_to_template: npt.NDArray[np.float64]
    flair_tissue_z: dict[str, float] = field(default_factory=dict)


TEMPLATE_FILE = Path(__file__).parent / "templates" / "mni152_2009a_regions.npz"
"""The packaged region template (see `region_template`)."""
_TEMPLATE_SETTINGS = ("template_spacing_mm", "cortex_max_depth_mm", "cortex_min_ventricle_distance_mm")


@dataclass(frozen=True)
class RegionTemplate:
    """What `map_regions` needs from the MNI template.

    Attributes:
        image: T1-like intensity image at `RegionConfig.template_spacing_mm`, the moving image of the registration.
        regions: region labels (values in `REGION_LABELS`) on the template's 1 mm grid.
        intracranial_volume_mm3: the template's intracranial volume.
    """

    image: Volume
    regions: LabelVolume
    intracranial_volume_mm3: float


def _template_image(anatomy: Anatomy) -> Volume:
    """A T1-like intensity image made from the tissue maps (MI registration needs only distinct tissues)."""
    return Volume(0.25 * anatomy.csf + 0.65 * anatomy.gm + 1.0 * anatomy.wm, anatomy.affine)


def _template_regions(anatomy: Anatomy, config: RegionConfig) -> LabelVolume:
    s = anatomy.spacing_mm
    depth = ndimage.distance_transform_edt(anatomy.brain, sampling=s)
    from_vent = ndimage.distance_transform_edt(~anatomy.ventricles, sampling=s)
    out = np.zeros(anatomy.shape, np.uint8)
    out[anatomy.brain] = OTHER_BRAIN
    out[anatomy.brain & (anatomy.wm > 0.5)] = WHITE_MATTER
    cortex = ((anatomy.gm > 0.5) & (depth <= config.cortex_max_depth_mm)
              & (from_vent > config.cortex_min_ventricle_distance_mm))
    out[cortex] = CORTEX
    out[anatomy.infratentorial] = INFRATENTORIAL
    out[anatomy.ventricles] = VENTRICLES
    return LabelVolume(out, anatomy.affine)


def derive_region_template(config: RegionConfig) -> RegionTemplate:
    """The region template made from nilearn's MNI152 2009a tissue maps (about 9 s)."""
    full = load_mni_anatomy(1.0)
    return RegionTemplate(_template_image(load_mni_anatomy(config.template_spacing_mm)),
                          _template_regions(full, config), float(full.brain.sum()) * float(np.prod(full.spacing_mm)))


def region_template_arrays(template: RegionTemplate, config: RegionConfig) -> dict[str, npt.NDArray[np.generic]]:
    """The arrays stored in `TEMPLATE_FILE` (with the settings they were made with)."""
    return {"image": template.image.array.astype(np.float32), "image_affine": template.image.affine,
            "regions": template.regions.array.astype(np.uint8), "regions_affine": template.regions.affine,
            "intracranial_volume_mm3": np.array(template.intracranial_volume_mm3),
            **{k: np.array(float(getattr(config, k))) for k in _TEMPLATE_SETTINGS}}


@functools.lru_cache(maxsize=4)
def region_template(config: RegionConfig) -> RegionTemplate:
    """The region template for `config`: the packaged one when it was made with the same settings, else derived."""
    if TEMPLATE_FILE.is_file():
        with np.load(TEMPLATE_FILE) as stored:
            if all(float(stored[k]) == float(getattr(config, k)) for k in _TEMPLATE_SETTINGS):
                return RegionTemplate(Volume(stored["image"], stored["image_affine"]),
                                      LabelVolume(stored["regions"], stored["regions_affine"]),
                                      float(stored["intracranial_volume_mm3"]))
    log.info("deriving the MNI region template for non-default settings")
    return derive_region_template(config)


def map_regions(reference: Volume, brain_mask: LabelVolume, config: RegionConfig,
                flair: Volume | None = None) -> RegionMap:
    """Register the MNI template to a patient and carry its regions over.

    Args:
        reference: the patient's normalised image used for registration (FLAIR or T1) on the working grid.
        brain_mask: the patient's brain mask on the same grid.
        config: registration and region settings.
        flair: the patient's normalised FLAIR on the same grid, to refine the ventricles (None: template only).

    Returns:
        RegionMap on `reference`'s grid.

    Raises:
        RegistrationError: the template could not be registered.
    """
    template = region_template(config)
    masked = reference.with_array(np.where(brain_mask.mask, reference.array - reference.array.min(), 0.0))
    result = register(template.image, masked, config.registration, fixed_mask=brain_mask, quality=False)
    patient_to_template = result.fixed_to_moving
    grid = Grid.of(reference)
    regions = resample(template.regions, grid, world_transform=patient_to_template).array.copy()
    inside = brain_mask.mask
    regions[~inside] = 0
    regions[inside & (regions == 0)] = OTHER_BRAIN
    tissue_z: dict[str, float] = {}
    if flair is not None:
        # white matter without its FLAIR-bright voxels, so that a heavy lesion load does not lift it
        cores = {"ventricles": ndimage.binary_erosion(regions == VENTRICLES),
                 "white_matter": (regions == WHITE_MATTER) & (flair.array < 1.0), "cortex": regions == CORTEX}
        tissue_z = {name: float(np.median(flair.array[core & inside])) for name, core in cores.items()
                    if (core & inside).sum() >= 20}
        spacing = reference.spacing_mm
        near = within_mm(regions == VENTRICLES, spacing, config.ventricle_search_mm)
        dark = inside & (flair.array < config.csf_flair_z)
        refined = near & dark
        # keep only dark components touching the template's ventricles: sulcal CSF stays out
        labels, n = ndimage.label(refined)
        if n:
            touching = np.unique(labels[(regions == VENTRICLES) & refined])
            refined = np.isin(labels, touching[touching > 0])
            regions[(regions == VENTRICLES) & ~refined] = OTHER_BRAIN
            regions[refined] = VENTRICLES
    icv = template.intracranial_volume_mm3 / abs(float(np.linalg.det(patient_to_template[:3, :3])))
    log.info("regions mapped: template NMI %.3f, intracranial volume %.0f ml",
             result.normalized_mutual_information, icv / 1000)
    return RegionMap(LabelVolume(regions, reference.affine), icv, patient_to_template, tissue_z)


def within_mm(mask: npt.NDArray[np.bool_], spacing_mm: tuple[float, float, float], distance_mm: float
              ) -> npt.NDArray[np.bool_]:
    """The voxels at most `distance_mm` (world distance between voxel centres) from a voxel of `mask`.

    The distance transform runs only over the mask's bounding box grown by `distance_mm`: every voxel of the mask
    lies inside it, so distances there are exact, and every voxel outside is farther. An empty mask gives none.
    """
    found = np.zeros(mask.shape, bool)
    idx = np.argwhere(mask)
    if idx.size == 0:
        return found
    grow = np.ceil(distance_mm / np.asarray(spacing_mm)).astype(int)
    box = tuple(slice(max(int(lo) - g, 0), int(hi) + g + 1)
                for lo, hi, g in zip(idx.min(axis=0), idx.max(axis=0), grow, strict=True))
    found[box] = ndimage.distance_transform_edt(~mask[box], sampling=spacing_mm) <= distance_mm
    return found


def distance_maps_mm(regions: LabelVolume) -> dict[str, npt.NDArray[np.float32]]:
    """Distance (mm) from every voxel to the ventricles and to the cortex (0 inside them; inf when absent)."""
    out = {}
    for name, label in (("ventricles", VENTRICLES), ("cortex", CORTEX)):
        target = regions.array == label
        if target.any():
            out[name] = ndimage.distance_transform_edt(~target, sampling=regions.spacing_mm).astype(np.float32)
        else:
            out[name] = np.full(regions.shape, np.inf, np.float32)
    return out
