"""The axial sweep animation: frames every 2 mm, the lesion overlay drawn, GIF and MP4 encodings."""

from __future__ import annotations

import numpy as np

from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.reporting.animation import encode_gif
from lesionwatch.reporting.figures import LOCATION_PALETTE, DisplayImage, animation_frames


def _display(spacing_z: float, slices: int) -> DisplayImage:
    affine = np.diag([1.0, 1.0, spacing_z, 1.0])
    image = np.zeros((40, 40, slices), np.float32)
    image[5:35, 5:35, :] = np.random.default_rng(0).uniform(50.0, 150.0, (30, 30, slices))
    overlay = np.zeros(image.shape, np.uint8)
    overlay[18:22, 18:22, :] = 1
    return DisplayImage.of(Volume(image, affine), LabelVolume(overlay, affine))


def test_frames_step_two_mm_on_thin_slices_and_every_slice_on_thick_ones() -> None:
    thin = animation_frames([_display(1.0, 60)], LOCATION_PALETTE, [], width_px=40)
    thick = animation_frames([_display(4.0, 15)], LOCATION_PALETTE, [], width_px=40)
    assert len(thin) == 30
    assert len(thick) == 15
    frame = thin[10]
    assert frame.dtype == np.uint8 and frame.shape[2] == 3
    centre, body = frame[20, 20], frame[8, 8]
    assert not (centre[0] == centre[1] == centre[2])  # the lesion is coloured
    assert body[0] == body[1] == body[2] > 0  # the brain is grey


def test_gif_has_one_image_per_frame() -> None:
    import io

    from PIL import Image

    frames = animation_frames([_display(1.0, 20)], LOCATION_PALETTE, [], width_px=40)
    gif = Image.open(io.BytesIO(encode_gif(frames)))
    assert gif.n_frames == len(frames) == 10


def test_gif_keeps_a_colour_seen_in_one_frame_only() -> None:
    import io

    from PIL import Image

    ramp = np.linspace(0, 255, 40).astype(np.uint8)
    frames = [np.repeat(np.repeat(np.roll(ramp, i)[None, :, None], 30, 0), 3, 2) for i in range(12)]
    frames[7][10:16, 10:16] = (230, 20, 40)  # one small red patch in one frame
    gif = Image.open(io.BytesIO(encode_gif(frames)))
    gif.seek(7)
    patch = np.asarray(gif.convert("RGB"))[12, 12].astype(int)
    assert abs(patch - np.array([230, 20, 40])).max() <= 16
    gif.seek(3)
    grey = np.asarray(gif.convert("RGB"))[5].astype(int)
    assert np.abs(grey - np.repeat(np.roll(ramp, 3)[:, None], 3, 1)).max() <= 16  # greys survive the shared palette
