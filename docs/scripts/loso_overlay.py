"""Make docs/images/loso_CASE.png: a held-out scan of the leave-one-site-out validation, its expert mask and the
model's mask on the FLAIR, on the axial slices with the most lesion (truth or prediction).

Usage: score the site first (`benchmarks/leave_one_site_out.py score --out RUN ...`), then
    .venv/bin/python docs/scripts/loso_overlay.py RUN CASE [OUT.png]
CASE is a scan name of the protocol (e.g. isbi_training05). Green: the expert (rater 1 where there are two);
red: the model's mask at the protocol's operating point (the network's mask, no post-processing rule); yellow
where both agree.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from lesionwatch.io.nifti import read_labels, read_volume
from lesionwatch.paths import shared_data_dir
from lesionwatch.preprocessing.reorientation import reorient_to_ras
from lesionwatch.preprocessing.resampling import Grid, resample

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _protocol() -> object:
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("leave_one_site_out", BENCHMARKS / "leave_one_site_out.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main(run: Path, name: str, out: Path) -> None:
    loso = _protocol()
    data = shared_data_dir()
    assert data is not None, "needs ../shared/data"
    case = next(c for cases in loso.site_cases(data).values() for c in cases if c.name == name)  # type: ignore[attr-defined]
    folder = run / "segment" / name
    kept = loso.KeptCase.read(folder)  # type: ignore[attr-defined]
    pred = kept.mask(*loso.OPERATING_POINT)  # type: ignore[attr-defined]
    flair = reorient_to_ras(read_volume(case.flair))
    grid = Grid.of(flair)
    truth = resample(read_labels(case.truths[0]), grid).array > 0
    mine = resample(reorient_to_ras(pred), grid).array > 0
    load = (truth | mine).sum(axis=(0, 1))
    ks = np.sort(np.argsort(load)[-6:])
    head = np.argwhere(flair.array > np.percentile(flair.array, 70))
    (x0, y0), (x1, y1) = head.min(axis=0)[:2], head.max(axis=0)[:2] + 1  # the head, not the empty field of view
    fig, axes = plt.subplots(2, 3, figsize=(15, 11), facecolor="black")
    top = np.percentile(flair.array, 99.5)
    for ax, k in zip(axes.ravel(), ks, strict=True):
        ax.imshow(flair.array[x0:x1, y0:y1, k].T, cmap="gray", origin="lower", vmax=top)
        t, m = truth[x0:x1, y0:y1, k], mine[x0:x1, y0:y1, k]
        rgba = np.zeros((*t.shape, 4))
        rgba[t & ~m] = (0, 1, 0, 0.6)
        rgba[m & ~t] = (1, 0, 0, 0.6)
        rgba[m & t] = (1, 1, 0, 0.75)
        ax.imshow(np.transpose(rgba, (1, 0, 2)), origin="lower")
        ax.set_title(f"slice {k}", color="white", fontsize=9)
        ax.axis("off")
    fig.suptitle(f"{name} (held out): green expert only, red model only, yellow both", color="white")
    fig.savefig(out, dpi=80, facecolor="black", bbox_inches="tight")


if __name__ == "__main__":
    target = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(f"docs/images/loso_{sys.argv[2]}.png")
    main(Path(sys.argv[1]), sys.argv[2], target)
