"""Shared fixtures: small synthetic images built in memory, the shared real data (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lesionwatch.io.volume import Volume
from lesionwatch.paths import shared_data_dir
from lesionwatch.synth import SynthConfig, SyntheticCase, generate_case


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`, or skip the test when it is absent."""
    folder = shared_data_dir()
    if folder is None:
        pytest.skip("../shared/data is absent")
    return folder


def oblique_affine(spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """An LPS-ordered, slightly rotated affine, to catch orientation mistakes."""
    angle = np.deg2rad(7.0)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    flip = np.diag([-1.0, -1.0, 1.0])
    affine = np.eye(4)
    affine[:3, :3] = rot @ flip @ np.diag(spacing)
    affine[:3, 3] = [40.0, 50.0, -30.0]
    return affine


@pytest.fixture()
def blob_volume() -> Volume:
    """A 32x28x20 oblique volume holding a bright ellipsoid on a dimmer background."""
    ii, jj, kk = np.meshgrid(np.arange(32), np.arange(28), np.arange(20), indexing="ij")
    r = ((ii - 15) / 9.0) ** 2 + ((jj - 13) / 7.0) ** 2 + ((kk - 9) / 5.0) ** 2
    arr = np.where(r < 1, 100.0, 10.0) + ii * 0.5
    return Volume(arr.astype(np.float32), oblique_affine((1.0, 1.2, 2.0)))


@pytest.fixture(scope="session")
def small_case() -> SyntheticCase:
    """A 3 mm synthetic two-session case with skull (about 78x90x75 voxels)."""
    return generate_case(3, SynthConfig(spacing_mm=3.0, lesion_count=(10, 15)), timepoints=2)


@pytest.fixture(scope="session")
def medium_case() -> SyntheticCase:
    """A 2 mm synthetic one-session FLAIR + T1 case with skull, large enough for brain extraction."""
    return generate_case(5, SynthConfig(spacing_mm=2.0, lesion_count=(8, 12)), timepoints=1)
