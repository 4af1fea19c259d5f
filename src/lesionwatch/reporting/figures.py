"""Figures: lesion overlays, orthogonal views, plots and the quality-control panel, as PNG bytes.

Images are shown in RAS+ orientation in the radiological convention (the patient's right on the left of the
picture), labelled R/L, with a scale bar in mm. Every function takes data in memory and returns PNG bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy import ndimage

from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.preprocessing.reorientation import reorient_to_ras

LOCATION_PALETTE = {
    1: ("periventricular", "#e6194b"),
    2: ("juxtacortical", "#f58231"),
    3: ("infratentorial", "#3cb44b"),
    4: ("other white matter", "#4363d8"),
}
"""Overlay values of a segmentation picture: location class -> (legend, colour)."""
LOCATION_CODES = {"periventricular": 1, "juxtacortical": 2, "infratentorial": 3, "white_matter": 4}

CHANGE_PALETTE = {
    1: ("stable", "#4363d8"),
    2: ("new", "#e6194b"),
    3: ("enlarging", "#f58231"),
    4: ("enlarging: growth", "#ffe119"),
    5: ("shrinking", "#42d4f4"),
    6: ("resolved / lost", "#911eb4"),
}
"""Overlay values of a follow-up picture (the change-map labels) -> (legend, colour)."""

Palette = dict[int, tuple[str, str]]


@dataclass(frozen=True)
class DisplayImage:
    """A volume ready to draw: RAS+ array (i=R, j=A, k=S), its spacing, and an optional overlay of class codes."""

    image: npt.NDArray[np.float32]
    overlay: npt.NDArray[np.uint8]
    spacing_mm: tuple[float, float, float]
    affine: npt.NDArray[np.float64]

    @classmethod
    def of(cls, image: Volume, overlay: LabelVolume | None = None) -> DisplayImage:
        """Reorient `image` (and an overlay on the same grid) to RAS+ for display."""
        ras = reorient_to_ras(image)
        codes = reorient_to_ras(overlay).array.astype(np.uint8) if overlay is not None else \
            np.zeros(ras.shape, np.uint8)
        return cls(ras.array, codes, ras.spacing_mm, ras.affine)

    def world_z_mm(self, k: int) -> float:
        """Superior coordinate (RAS+ mm) of the centre of axial slice `k`."""
        centre = self.affine @ np.array([self.image.shape[0] / 2, self.image.shape[1] / 2, k, 1.0])
        return float(centre[2])


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi, facecolor=fig.get_facecolor())
    plt.close(fig)
    return buffer.getvalue()


def _window(image: npt.NDArray[np.float32]) -> tuple[float, float]:
    values = image[image > 0] if np.any(image > 0) else image.ravel()
    lo, hi = np.percentile(values, [0.5, 99.5])
    return float(lo), float(hi)


def _axial(array: npt.NDArray[Any], k: int) -> npt.NDArray[Any]:
    # RAS array: rows = A (top = anterior), columns = R..L after the radiological flip
    return np.asarray(array[::-1, :, k].T[::-1])


def _colormap(palette: Palette) -> ListedColormap:
    colours = ["#00000000"] * (max(palette) + 1)
    for code, (_, colour) in palette.items():
        colours[code] = colour
    return ListedColormap(colours)


def _draw_slice(ax: plt.Axes, image: npt.NDArray[np.generic], overlay: npt.NDArray[np.generic],
                window: tuple[float, float], palette: Palette, *, aspect: float, alpha: float = 0.55,
                outline_only: bool = False) -> None:
    ax.imshow(image, cmap="gray", vmin=window[0], vmax=window[1], aspect=aspect, interpolation="nearest")
    if overlay.any():
        masked = np.ma.masked_equal(overlay, 0)
        if outline_only:
            for code, (_, colour) in palette.items():
                if (overlay == code).any():
                    ax.contour(overlay == code, [0.5], colors=[colour], linewidths=0.8)
        else:
            ax.imshow(masked, cmap=_colormap(palette), vmin=0, vmax=max(palette), alpha=alpha,
                      aspect=aspect, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _scale_bar(ax: plt.Axes, spacing_mm: float, width_px: int, length_mm: float = 50.0) -> None:
    length_px = length_mm / spacing_mm
    x0, y0 = width_px * 0.05, 0.0
    ylim = ax.get_ylim()
    y0 = max(ylim) - 0.05 * abs(ylim[0] - ylim[1])
    ax.plot([x0, x0 + length_px], [y0, y0], color="white", lw=2)
    ax.text(x0 + length_px / 2, y0 - 0.02 * abs(ylim[0] - ylim[1]), f"{length_mm:.0f} mm", color="white",
            ha="center", va="bottom", fontsize=7)


def _orientation_labels(ax: plt.Axes, left: str = "R", right: str = "L") -> None:
    ax.text(0.02, 0.5, left, transform=ax.transAxes, color="yellow", fontsize=9, va="center", weight="bold")
    ax.text(0.98, 0.5, right, transform=ax.transAxes, color="yellow", fontsize=9, va="center", ha="right",
            weight="bold")


def _legend(fig: Figure, palette: Palette, present: set[int]) -> None:
    handles = [Patch(color=colour, label=name) for code, (name, colour) in palette.items() if code in present]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, labelcolor="white",
                   fontsize=9)


def lesion_slices(overlay: npt.NDArray[Any], count: int) -> list[int]:
    """Up to `count` axial slice indices spread over the slices holding overlay voxels (middle slices if none)."""
    per_slice = (overlay > 0).sum(axis=(0, 1))
    candidates = np.flatnonzero(per_slice)
    if candidates.size == 0:
        nz = overlay.shape[2]
        return sorted({round(x) for x in np.linspace(nz * 0.3, nz * 0.75, min(count, nz))})
    if candidates.size <= count:
        return [int(k) for k in candidates]
    picks = np.linspace(0, candidates.size - 1, count).round().astype(int)
    return [int(candidates[i]) for i in picks]


def overlay_montage(display: DisplayImage, palette: Palette, title: str, *, count: int = 12,
                    columns: int = 4) -> bytes:
    """Axial slices through the lesion-bearing brain with the coloured overlay, legend, R/L and a scale bar."""
    slices = lesion_slices(display.overlay, count)
    rows = int(np.ceil(len(slices) / columns))
    sx, sy, _sz = display.spacing_mm
    fig, axes = plt.subplots(rows, columns, figsize=(3.0 * columns, 3.2 * rows + 0.6), facecolor="black",
                             squeeze=False)
    window = _window(display.image)
    for ax, k in zip(axes.ravel(), slices, strict=False):
        _draw_slice(ax, _axial(display.image, k), _axial(display.overlay, k), window, palette, aspect=sy / sx)
        ax.set_title(f"axial z = {display.world_z_mm(k):.0f} mm (slice {k + 1})", color="white", fontsize=8)
        _orientation_labels(ax)
    for ax in axes.ravel()[len(slices):]:
        ax.axis("off")
    _scale_bar(axes.ravel()[0], sx, display.image.shape[0])
    fig.suptitle(title, color="white", fontsize=12)
    _legend(fig, palette, set(np.unique(display.overlay).tolist()))
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    return png_bytes(fig)


def largest_lesion_centre(lesion_ids: npt.NDArray[np.integer]) -> tuple[int, int, int]:
    """Voxel (RAS display array) at the centre of the largest lesion, or the centre of the volume."""
    if not lesion_ids.any():
        return (lesion_ids.shape[0] // 2, lesion_ids.shape[1] // 2, lesion_ids.shape[2] // 2)
    sizes = np.bincount(lesion_ids.ravel())
    sizes[0] = 0
    centre = ndimage.center_of_mass(lesion_ids == int(sizes.argmax()))
    return (round(centre[0]), round(centre[1]), round(centre[2]))


def orthogonal_views(display: DisplayImage, palette: Palette, centre: tuple[int, int, int], title: str) -> bytes:
    """Axial, coronal and sagittal slices through `centre` (RAS display voxel) with the overlay and a crosshair."""
    i, j, k = centre
    sx, sy, sz = display.spacing_mm
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4), facecolor="black")
    window = _window(display.image)
    views = [
        ("axial", _axial(display.image, k), _axial(display.overlay, k), sy / sx, ("R", "L")),
        ("coronal", display.image[::-1, j, :].T[::-1], display.overlay[::-1, j, :].T[::-1], sz / sx, ("R", "L")),
        ("sagittal", display.image[i, :, :].T[::-1], display.overlay[i, :, :].T[::-1], sz / sy, ("P", "A")),
    ]
    for ax, (name, img, ovl, aspect, labels) in zip(axes, views, strict=True):
        _draw_slice(ax, img, ovl, window, palette, aspect=aspect, alpha=0.5)
        ax.set_title(name, color="white", fontsize=10)
        _orientation_labels(ax, *labels)
    _scale_bar(axes[0], sx, display.image.shape[0])
    fig.suptitle(title, color="white", fontsize=11)
    _legend(fig, palette, set(np.unique(display.overlay).tolist()))
    fig.tight_layout(rect=(0, 0.07, 1, 0.93))
    return png_bytes(fig)


def _tissue_scaled(crop: npt.NDArray[np.float32], lesion: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
    """`crop` divided by the median of its non-lesion tissue (voxels above a tenth of its 99th percentile), so two
    studies of other scanners or gains show their normal-appearing tissue at the same grey."""
    top = float(np.percentile(crop, 99)) if crop.size else 0.0
    tissue = crop[(crop > 0.1 * top) & ~lesion] if top > 0 else crop[:0]
    scale = float(np.median(tissue)) if tissue.size else 1.0
    return (crop / scale).astype(np.float32) if scale > 0 else crop


def change_pair(before: DisplayImage, after: DisplayImage, lesion_before: npt.NDArray[np.bool_],
                lesion_after: npt.NDArray[np.bool_], title: str, labels: tuple[str, str], colour: str,
                half_width_mm: float = 25.0) -> bytes:
    """Axial crops of one lesion in two studies side by side, for reading a change.

    Both images and masks are RAS+ display arrays on one grid (the follow-up's common space). The slice is the one
    holding most of the later lesion's voxels that were not lesion before (its new tissue), the crop
    `half_width_mm` around the lesion's centre in that slice. Each crop is scaled to its own normal-appearing
    tissue and both are shown with one window and level, so a brighter lesion is brighter on the page. Solid
    outline: the lesion in that study; dashed, on the earlier study: where the lesion is in the later one.
    """
    grown = lesion_after & ~lesion_before
    focus = grown if grown.any() else (lesion_after if lesion_after.any() else lesion_before)
    if not focus.any():
        raise ValueError("change_pair: the lesion is empty in both studies")
    k = int(focus.sum(axis=(0, 1)).argmax())
    ci, cj = (round(c) for c in ndimage.center_of_mass(focus[:, :, k]))
    sx, sy, _ = before.spacing_mm
    hi, hj = max(int(half_width_mm / sx), 4), max(int(half_width_mm / sy), 4)
    win = (slice(max(ci - hi, 0), ci + hi + 1), slice(max(cj - hj, 0), cj + hj + 1), slice(k, k + 1))
    union = (lesion_before | lesion_after)[win]
    crops = [_tissue_scaled(d.image[win].astype(np.float32), union) for d in (before, after)]
    window = (0.0, float(max(np.percentile(c, 99.5) for c in crops)) * 1.1 or 1.0)
    fig, axes = plt.subplots(1, 2, figsize=(5.6, 3.1), facecolor="black")
    for ax, crop, mask, label in zip(axes, crops, (lesion_before[win], lesion_after[win]), labels, strict=True):
        ax.imshow(_axial(crop, 0), cmap="gray", vmin=window[0], vmax=window[1], aspect=sy / sx,
                  interpolation="nearest")
        if mask.any():
            ax.contour(_axial(mask, 0), [0.5], colors=[colour], linewidths=1.2)
        if ax is axes[0] and lesion_after[win].any():
            ax.contour(_axial(lesion_after[win], 0), [0.5], colors=[colour], linewidths=0.8, linestyles="dashed")
        ax.set_title(label, color="white", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        _orientation_labels(ax)
    _scale_bar(axes[0], sx, crops[0].shape[0], length_mm=10.0)
    fig.suptitle(f"{title} (axial z = {after.world_z_mm(k):.0f} mm)", color="white", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    return png_bytes(fig)


def animation_frames(displays: Sequence[DisplayImage], palette: Palette, titles: Sequence[str],
                     width_px: int = 320, step_mm: float = 2.0) -> list[npt.NDArray[np.uint8]]:
    """RGB frames sweeping through the axial slices that hold the head, several studies side by side (same grid
    required), one frame every `step_mm` (or every slice when slices are thicker)."""
    first = displays[0]
    frames = []
    windows = [_window(d.image) for d in displays]
    lut = np.zeros((max(palette) + 1, 3), np.float32)
    for code, (_, colour) in palette.items():
        lut[code] = [int(colour[c:c + 2], 16) / 255 for c in (1, 3, 5)]
    zoom = width_px / first.image.shape[0]
    stretch = first.spacing_mm[1] / first.spacing_mm[0]
    lo0 = windows[0][0]
    filled = [k for k in range(first.image.shape[2]) if np.mean(first.image[:, :, k] > lo0) > 0.02]
    step = max(1, round(step_mm / first.spacing_mm[2]))
    for k in range(min(filled, default=0), max(filled, default=first.image.shape[2] - 1) + 1, step):
        panels = []
        for d, (lo, hi) in zip(displays, windows, strict=True):
            grey = np.clip((_axial(d.image, k) - lo) / max(hi - lo, 1e-6), 0, 1)
            rgb = np.repeat(grey[..., None], 3, axis=2)
            ovl = _axial(d.overlay, k)
            on = ovl > 0
            rgb[on] = 0.45 * rgb[on] + 0.55 * lut[ovl[on]]
            rgb = ndimage.zoom(rgb, (zoom * stretch, zoom, 1), order=0)
            panels.append(rgb)
        height = max(p.shape[0] for p in panels)
        panels = [np.pad(p, ((0, height - p.shape[0]), (0, 4), (0, 0))) for p in panels]
        frames.append((np.concatenate(panels, axis=1) * 255).astype(np.uint8))
    del titles  # titles are drawn by the page around the animation
    return frames


def location_volume_plot(volume_by_location: dict[str, float], count_by_location: dict[str, int]) -> bytes:
    """Bar chart of lesion volume (ml) per location class, counts on the bars."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    names = list(LOCATION_CODES)
    values = [volume_by_location.get(n, 0.0) / 1000 for n in names]
    colours = [LOCATION_PALETTE[LOCATION_CODES[n]][1] for n in names]
    bars = ax.bar([n.replace("_", " ") for n in names], values, color=colours)
    for bar, name in zip(bars, names, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"n={count_by_location.get(name, 0)}",
                ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("lesion volume (ml)")
    ax.set_title("Lesion volume by location")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return png_bytes(fig)


def timeline_plot(studies: Sequence[str], total_volume_mm3: Sequence[float], lesion_count: Sequence[int],
                  trajectories: dict[int, Sequence[float]], top: int = 15) -> bytes:
    """Total lesion volume and count per study, and the volume trajectories of the largest lesions."""
    fig, (ax1, ax3) = plt.subplots(1, 2, figsize=(11, 3.6))
    x = np.arange(len(studies))
    ax1.plot(x, np.asarray(total_volume_mm3) / 1000, "o-", color="#e6194b", label="total volume")
    ax1.set_ylabel("total lesion volume (ml)", color="#e6194b")
    ax2 = ax1.twinx()
    ax2.plot(x, lesion_count, "s--", color="#4363d8", label="lesion count")
    ax2.set_ylabel("lesion count", color="#4363d8")
    ax1.set_xticks(x, studies)
    ax1.set_title("Lesion load over time")
    largest = sorted(trajectories, key=lambda i: -max(trajectories[i]))[:top]
    for lesion in largest:
        ax3.plot(x, trajectories[lesion], "o-", lw=1, ms=3, label=f"#{lesion}")
    ax3.set_xticks(x, studies)
    ax3.set_ylabel("lesion volume (mm³)")
    ax3.set_title(f"Volume of the {len(largest)} largest lesions")
    if largest:
        ax3.legend(fontsize=6, ncol=2, frameon=False)
    for ax in (ax1, ax3):
        ax.spines[["top"]].set_visible(False)
    fig.tight_layout()
    return png_bytes(fig)


def qc_panel(flair: DisplayImage, brain_mask: npt.NDArray[np.bool_], other: DisplayImage | None,
             other_name: str, warnings: Sequence[str]) -> bytes:
    """Quality control: brain-mask outline on the FLAIR, edges of the other sequence on the FLAIR (registration),
    intensity histograms inside the brain, and the automatic warnings."""
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.2), facecolor="white")
    nz = flair.image.shape[2]
    k = int(np.flatnonzero(brain_mask.any(axis=(0, 1))).mean()) if brain_mask.any() else nz // 2
    window = _window(flair.image)
    sx, sy, sz = flair.spacing_mm
    axes[0].imshow(_axial(flair.image, k), cmap="gray", vmin=window[0], vmax=window[1], aspect=sy / sx)
    if brain_mask[:, :, k].any():
        axes[0].contour(_axial(brain_mask.astype(np.uint8), k), [0.5], colors=["#3cb44b"], linewidths=1)
    axes[0].set_title("brain mask (green) on FLAIR")
    j = brain_mask.shape[1] // 2
    axes[1].imshow(flair.image[::-1, j, :].T[::-1], cmap="gray", vmin=window[0], vmax=window[1], aspect=sz / sx)
    if brain_mask[:, j, :].any():
        axes[1].contour(brain_mask[::-1, j, :].T[::-1].astype(np.uint8), [0.5], colors=["#3cb44b"], linewidths=1)
    axes[1].set_title("brain mask, coronal")
    if other is not None:
        axes[2].imshow(_axial(flair.image, k), cmap="gray", vmin=window[0], vmax=window[1], aspect=sy / sx)
        edges = ndimage.gaussian_gradient_magnitude(_axial(other.image, k).astype(np.float32), 1.0)
        inside = _axial(brain_mask.astype(np.uint8), k) > 0
        if inside.any():
            strong = edges > np.percentile(edges[inside], 85)
            axes[2].imshow(np.ma.masked_where(~strong, strong), cmap=ListedColormap(["#ff00ff"]), alpha=0.6,
                           aspect=sy / sx)
        axes[2].set_title(f"{other_name} edges (magenta) on FLAIR")
    else:
        axes[2].text(0.5, 0.5, "FLAIR only:\nno registration to check", ha="center", va="center")
        axes[2].set_title("registration")
    for ax in axes[:3]:
        ax.set_xticks([])
        ax.set_yticks([])
    def standardised(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        lo, mid, hi = np.percentile(values, [25, 50, 75]) if values.size else (0.0, 0.0, 1.0)
        return np.clip((values - mid) / max(float(hi - lo), 1e-6), -6, 6)

    axes[3].hist(standardised(flair.image[brain_mask]), bins=80, color="#888888", alpha=0.8, label="FLAIR",
                 density=True)
    if other is not None:
        axes[3].hist(standardised(other.image[brain_mask]), bins=80, color="#ff00ff", alpha=0.5, label=other_name,
                     density=True)
    axes[3].set_title("intensities in the brain (median 0, IQR 1)")
    axes[3].legend(fontsize=8)
    axes[3].set_yticks([])
    text = "\n".join(f"! {w}" for w in warnings) if warnings else "no automatic warnings"
    fig.text(0.01, 0.01, text, fontsize=9, color="#b00000" if warnings else "#006000", va="bottom")
    fig.tight_layout(rect=(0, 0.08 + 0.03 * len(warnings), 1, 1))
    return png_bytes(fig)
