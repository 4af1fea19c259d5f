"""A compact 3D U-Net for lesion segmentation (Ronneberger et al. 2015; Çiçek et al. 2016), sized for CPUs.

Instance normalisation and leaky ReLU as in nnU-Net (Isensee et al., Nat Methods 2021). Input channels are the
normalised sequences in the model card's order; a missing sequence is given as zeros and the network was trained
with such channel dropout.
"""

from __future__ import annotations

import torch
from torch import nn


class _Block(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(
            nn.Conv3d(in_ch, out_ch, 3, padding=1, bias=False), nn.InstanceNorm3d(out_ch, affine=True),
            nn.LeakyReLU(0.01, inplace=True),
            nn.Conv3d(out_ch, out_ch, 3, padding=1, bias=False), nn.InstanceNorm3d(out_ch, affine=True),
            nn.LeakyReLU(0.01, inplace=True),
        )


class UNet3D(nn.Module):
    """3D U-Net returning one lesion logit per voxel.

    Args:
        in_channels: number of input sequences.
        features: feature count at each resolution level, finest first; each level halves the resolution.

    Input: float tensor (batch, in_channels, x, y, z) with every spatial size divisible by 2**(levels-1).
    Output: logits (batch, 1, x, y, z).
    """

    def __init__(self, in_channels: int = 2, features: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.features = tuple(features)
        self.down = nn.ModuleList()
        ch = in_channels
        for f in features:
            self.down.append(_Block(ch, f))
            ch = f
        self.pool = nn.MaxPool3d(2)
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for f in reversed(features[:-1]):
            self.up.append(nn.ConvTranspose3d(ch, f, 2, stride=2))
            self.merge.append(_Block(2 * f, f))
            ch = f
        self.head = nn.Conv3d(ch, 1, 1)

    @property
    def divisor(self) -> int:
        """Spatial sizes must be multiples of this."""
        return int(2 ** (len(self.features) - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < len(self.down) - 1:
                skips.append(x)
                x = self.pool(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)


class UNetEnsemble(nn.Module):
    """Several U-Nets of one shape whose logits are averaged: the folds of a cross-validation, shipped together.

    Each member was trained on a different part of the patients (see the model card), so the ensemble has seen
    them all while every member's accuracy on the patients it never saw is known.

    Args:
        in_channels: number of input sequences.
        features: feature count per level, the same for every member.
        members: how many U-Nets.
    """

    def __init__(self, in_channels: int = 2, features: tuple[int, ...] = (16, 32, 64, 128), members: int = 2) -> None:
        super().__init__()
        self.members = nn.ModuleList(UNet3D(in_channels, features) for _ in range(members))
        self.features = tuple(features)

    @property
    def divisor(self) -> int:
        """Spatial sizes must be multiples of this."""
        return int(2 ** (len(self.features) - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(dim=0)


ARCHITECTURES: dict[str, type[nn.Module]] = {"UNet3D": UNet3D, "UNetEnsemble": UNetEnsemble}
