"""Is a follow-up one head? The figures `lesionwatch followup` checks, on pairs that are and pairs that are not.

Usage:
    python benchmarks/same_head.py

Each study of ../shared/data is preprocessed (brain mask, bias-corrected FLAIR) and its intracranial volume
estimated through the region template; each pair is then aligned as `followup` aligns it. Printed per pair: the
normalised mutual information of the aligned FLAIRs (before and after), the ratio of the intracranial volumes, and
the Dice of the two brain masks in the common space. Same-head pairs: the longitudinal studies of lesjak_long
patient01 and patient03 and MSLesSeg P14 T1 / T3; other pairs: studies of different patients. This is how
`workflows.followup.MIN_SAME_HEAD_NMI`, `MAX_ICV_RATIO` and `MIN_BRAIN_DICE` were set. Asserts nothing.
"""

from __future__ import annotations

import sys

from lesionwatch.paths import shared_data_dir


def main() -> int:
    from lesionwatch.atlas.regions import RegionConfig, map_regions
    from lesionwatch.io.study import StudyInputs, load_study
    from lesionwatch.longitudinal.alignment import AlignmentConfig
    from lesionwatch.preprocessing.pipeline import PreprocessingConfig, preprocess
    from lesionwatch.workflows.followup import same_head_figures

    data = shared_data_dir()
    if data is None:
        print("../shared/data is absent: nothing to measure")
        return 0
    studies = {
        "lesjak_long p01 s1": data / "lesjak_long/patient01/study1_FLAIR.nii.gz",
        "lesjak_long p01 s2": data / "lesjak_long/patient01/study2_FLAIR.nii.gz",
        "lesjak_long p03 s1": data / "lesjak_long/patient03/study1_FLAIR.nii.gz",
        "lesjak_long p03 s2": data / "lesjak_long/patient03/study2_FLAIR.nii.gz",
        "mslesseg P14 T1": data / "mslesseg/P14/T1/P14_T1_FLAIR.nii.gz",
        "mslesseg P14 T3": data / "mslesseg/P14/T3/P14_T3_FLAIR.nii.gz",
        "mslesseg P39 T1": data / "mslesseg/P39/T1/P39_T1_FLAIR.nii.gz",
        "isbi training01": data / "isbi2015/training01/training01_01_flair.nii.gz",
    }
    pairs = [("lesjak_long p01 s1", "lesjak_long p01 s2", True), ("lesjak_long p03 s1", "lesjak_long p03 s2", True),
             ("mslesseg P14 T1", "mslesseg P14 T3", True), ("lesjak_long p01 s1", "lesjak_long p03 s2", False),
             ("lesjak_long p03 s1", "lesjak_long p01 s2", False), ("mslesseg P14 T1", "mslesseg P39 T1", False),
             ("lesjak_long p01 s2", "isbi training01", False), ("isbi training01", "lesjak_long p03 s2", False)]
    prepared = {}
    for name, path in studies.items():
        pre = preprocess(load_study(StudyInputs(flair=path)), PreprocessingConfig())
        icv = map_regions(pre.channels["flair"], pre.brain_mask, RegionConfig()).intracranial_volume_mm3
        prepared[name] = (pre.bias_corrected_flair, pre.native_brain_mask, icv)
        print(f"prepared {name}: intracranial volume {icv / 1000:.0f} ml", file=sys.stderr, flush=True)
    print("| baseline | follow-up | one head | NMI before | NMI after | ICV ratio | brain Dice |")
    print("|---|---|---|---|---|---|---|")
    for a, b, same in pairs:
        (fa, ma, ia), (fb, mb, ib) = prepared[a], prepared[b]
        figures = same_head_figures([fa, fb], [ma, mb], [ia, ib], AlignmentConfig())
        print(f"| {a} | {b} | {'yes' if same else 'no'} | {figures.initial_nmi:.3f} | {figures.nmi:.3f} | "
              f"{figures.icv_ratio:.2f} | {figures.brain_dice:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
