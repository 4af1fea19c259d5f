"""Connected lesion components (26-connectivity, the convention of MS lesion counting)."""

from __future__ import annotations

import cc3d
import numpy as np
import numpy.typing as npt


def label_lesions(mask: npt.NDArray[np.bool_] | npt.NDArray[np.integer], connectivity: int = 26
                  ) -> tuple[npt.NDArray[np.int32], int]:
    """Label the connected components of a binary mask.

    Args:
        mask: 3D array, non-zero = lesion.
        connectivity: 6, 18 or 26.

    Returns:
        (labels int32 array with 1..n, n).
    """
    binary = np.ascontiguousarray(np.asarray(mask) != 0, dtype=np.uint8)
    labels, n = cc3d.connected_components(binary, connectivity=connectivity, return_N=True)  # type: ignore[call-overload]
    return labels.astype(np.int32, copy=False), int(n)


def component_sizes(labels: npt.NDArray[np.int32], n: int) -> npt.NDArray[np.int64]:
    """Voxel count of components 1..n (index 0 of the result is component 1)."""
    return np.bincount(labels.ravel(), minlength=n + 1)[1:]
