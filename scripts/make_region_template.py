"""Rebuild the packaged MNI region template (`lesionwatch/atlas/templates/mni152_2009a_regions.npz`).

Usage:
    python scripts/make_region_template.py

Derives the template image and regions from nilearn's MNI152 2009a tissue maps with the default `RegionConfig`
(the same code `map_regions` falls back to for other settings) and writes them compressed. Run it after changing
`atlas/regions.py` or `atlas/mni.py`; `tests/atlas/test_regions.py` fails while the file is stale.
"""

from __future__ import annotations

import numpy as np

from lesionwatch.atlas.regions import (
    TEMPLATE_FILE,
    RegionConfig,
    derive_region_template,
    region_template_arrays,
)


def main() -> None:
    config = RegionConfig()
    arrays = region_template_arrays(derive_region_template(config), config)
    TEMPLATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    partial = TEMPLATE_FILE.with_suffix(".partial.npz")
    np.savez_compressed(partial, **arrays)  # type: ignore[arg-type]  # numpy stubs type the 2nd positional
    partial.replace(TEMPLATE_FILE)
    print(f"wrote {TEMPLATE_FILE} ({TEMPLATE_FILE.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
