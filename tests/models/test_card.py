from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lesionwatch.errors import ModelError
from lesionwatch.inference.sliding_window import axis_windows, predict_probability
from lesionwatch.models.card import (
    CARD_NAME,
    WEIGHTS_NAME,
    ModelCard,
    list_installed_models,
    load_model,
    read_card,
    resolve_model_dir,
    sha256_file,
)
from lesionwatch.models.unet import UNet3D


def write_tiny_model(folder: Path, seed: int = 0) -> Path:
    """A randomly initialised tiny U-Net written as a model folder."""
    torch.manual_seed(seed)
    net = UNet3D(2, (4, 8))
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), folder / WEIGHTS_NAME)
    card = ModelCard(name="tiny", version="0", inputs=("flair", "t1"), spacing_mm=1.0, architecture="UNet3D",
                     architecture_args={"in_channels": 2, "features": [4, 8]},
                     weights_sha256=sha256_file(folder / WEIGHTS_NAME), patch_size=(32, 32, 32))
    (folder / CARD_NAME).write_text(json.dumps(card.as_dict()))
    return folder


def test_unet_keeps_spatial_size() -> None:
    net = UNet3D(2, (4, 8, 16))
    out = net(torch.zeros(1, 2, 16, 24, 32))
    assert out.shape == (1, 1, 16, 24, 32) and net.divisor == 4


def test_model_folder_loads_after_hash_check(tmp_path: Path) -> None:
    folder = write_tiny_model(tmp_path / "m")
    net, card = load_model(folder)
    assert card.name == "tiny" and not net.training
    assert resolve_model_dir(folder) == folder


def test_corrupted_weights_are_refused(tmp_path: Path) -> None:
    folder = write_tiny_model(tmp_path / "m")
    weights = folder / WEIGHTS_NAME
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"weights\.pt: sha256 .* does not match the model card"):
        load_model(folder)


def test_unknown_model_name_lists_installed(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"(?s)not a model folder .* installed"):
        resolve_model_dir(tmp_path / "nothing-here")


def test_malformed_card_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / CARD_NAME).write_text(json.dumps({"name": "x"}))
    with pytest.raises(ModelError, match="model card is incomplete"):
        read_card(folder)


def test_sliding_window_covers_volumes_smaller_and_larger_than_the_patch() -> None:
    class Echo(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :1] * 20 - 10  # logit: +10 where the first channel is 1, -10 where 0

    image = np.zeros((2, 50, 20, 40), np.float32)
    image[0, 10:30, 5:15, 30:38] = 1
    prob = predict_probability(Echo(), image, (32, 32, 32), flip_tta=True)
    assert prob.shape == (50, 20, 40)
    np.testing.assert_array_equal(prob > 0.5, image[0] > 0)


@pytest.mark.parametrize("size", [40, 96, 100, 144, 166, 172, 198, 230, 300, 420])
def test_sliding_windows_cover_the_axis_with_overlap_and_few_windows(size: int) -> None:
    length, starts = axis_windows(size, 96, 8, overlap=0.25, max_stretch=1.25)
    assert length % 8 == 0 and length <= 120
    assert starts[0] == 0 and starts == sorted(starts)
    assert starts[-1] + length >= size  # covered to the end
    if len(starts) > 1:
        assert starts[-1] + length == size
        assert all(b - a <= length - 24 for a, b in itertools.pairwise(starts))  # neighbours share 24
        assert len(starts) == -(-(size - 24) // (120 - 24))  # no more windows than the longest length needs


def test_a_typical_brain_axis_takes_two_stretched_windows_instead_of_three() -> None:
    assert len(axis_windows(198, 96, 8, overlap=0.25, max_stretch=1.25)[1]) == 2


def test_shipped_default_model_is_installed_with_a_complete_card() -> None:
    names = [p.name for p in list_installed_models()]
    assert "default" in names
    card = read_card(resolve_model_dir("default"))
    assert card.inputs == ("flair", "t1")
    assert card.training["train_patients"]
    # the card carries the leave-one-site-out table, scored at the operating point the model ships with
    assert card.metrics["leave_one_site_out"]
    point = card.metrics["operating_point"]
    assert (point["threshold"], point["min_lesion_volume_mm3"]) == (card.threshold, card.min_lesion_volume_mm3)
    assert 0.0 < card.threshold < 1.0
    total = sum(p.stat().st_size for p in resolve_model_dir("default").iterdir())
    assert total < 50 * 1024 * 1024
    load_model(resolve_model_dir("default"))  # verifies the sha256
