from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lesionwatch.errors import ModelError
from lesionwatch.models.card import load_model, read_card, sha256_file
from lesionwatch.models.unet import UNet3D
from lesionwatch.workflows.train import combine_models
from tests.models.test_card import write_tiny_model


def _with_patients(folder: Path, patients: list[str]) -> Path:
    card = json.loads((folder / "model_card.json").read_text())
    card["training"] = {"train_patients": patients, "validation_patients": []}
    (folder / "model_card.json").write_text(json.dumps(card))
    return folder


def test_an_ensemble_averages_its_members_and_has_seen_all_their_patients(tmp_path: Path) -> None:
    a = _with_patients(write_tiny_model(tmp_path / "a", seed=1), ["d/P1"])
    b = _with_patients(write_tiny_model(tmp_path / "b", seed=2), ["d/P2"])
    out = combine_models([a, b], tmp_path / "ens", name="ens", threshold=0.4, min_lesion_volume_mm3=3.0)
    net, card = load_model(out)  # sha256 checked
    assert card.architecture == "UNetEnsemble" and card.threshold == 0.4 and card.min_lesion_volume_mm3 == 3.0
    assert card.training["train_patients"] == ["d/P1", "d/P2"]
    assert [m["name"] for m in card.training["members"]] == ["tiny", "tiny"]
    x = torch.randn(1, 2, 16, 16, 16)
    members = [load_model(d)[0] for d in (a, b)]
    with torch.no_grad():
        expected = (members[0](x) + members[1](x)) / 2
        assert torch.allclose(net(x), expected, atol=1e-5)
        assert not torch.allclose(members[0](x), members[1](x))  # the average is not a copy of one member


def test_an_ensemble_refuses_members_of_another_shape(tmp_path: Path) -> None:
    a = write_tiny_model(tmp_path / "a")
    b = write_tiny_model(tmp_path / "b")
    card = json.loads((b / "model_card.json").read_text())
    torch.save(UNet3D(2, (4, 8, 16)).state_dict(), b / "weights.pt")
    card.update(architecture_args={"in_channels": 2, "features": [4, 8, 16]},
                weights_sha256=sha256_file(b / "weights.pt"))
    (b / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="same inputs, spacing and shape"):
        combine_models([a, b], tmp_path / "ens", name="ens", threshold=0.5, min_lesion_volume_mm3=5.0)
    assert read_card(a).architecture == "UNet3D"
