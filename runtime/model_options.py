"""The model options ``sspnet stream`` and ``sspnet detect`` share: the score threshold, the frame geometry and
test-time augmentation.

By default both come from the model's manifest (the validated operating point, the validated up-scale). The
geometry overrides are for footage unlike the validation frames: the shipped model's frames were stored squeezed
across (see ``models/README.md``), so a camera that films persons at their natural width wants ``--stretch-x 1``,
and a higher resolution than 640x640 wants a smaller ``--scale``.
"""
from __future__ import annotations

import argparse
import dataclasses


def add_model_options(group) -> None:
    group.add_argument("--score-thr", type=float, default=None,
                       help="keep detections scoring at least this (default: the model's operating point, "
                            "postprocess.operating_thr in its manifest, chosen on the validation PR curve; the "
                            "manifest's score_thr is the evaluation protocol's)")
    group.add_argument("--scale", type=float, default=None, metavar="S",
                       help="resize frames by S before tiling (default: preprocess.scale in the manifest)")
    group.add_argument("--stretch-x", type=float, default=None, metavar="X",
                       help="widen frames by X more across than down (default: preprocess.stretch_x in the "
                            "manifest; 1 for footage whose persons are not squeezed)")
    group.add_argument("--flip-tta", action=argparse.BooleanOptionalAction, default=None,
                       help="also run every tile mirrored left-right and pool both views' boxes: twice the "
                            "network's cost per frame (default: postprocess.flip_tta in the manifest)")


def check_model_options(args: argparse.Namespace) -> None:
    """A ValueError naming the option for an out-of-range value (a usage error)."""
    if args.score_thr is not None and not 0 <= args.score_thr <= 1:
        raise ValueError(f"--score-thr must be in [0, 1], got {args.score_thr}")
    for flag, value in (("--scale", args.scale), ("--stretch-x", args.stretch_x)):
        if value is not None and not value > 0:
            raise ValueError(f"{flag} must be > 0, got {value}")


def apply_model_options(backend, args: argparse.Namespace) -> None:
    """The backend's post-processing keeps ``--score-thr`` (else the operating point) and takes ``--flip-tta`` /
    ``--no-flip-tta`` where given; its pre-processing takes ``--scale`` / ``--stretch-x`` where given."""
    thr = backend.postprocess.operating_thr if args.score_thr is None else args.score_thr
    flip = backend.postprocess.flip_tta if args.flip_tta is None else args.flip_tta
    backend.postprocess = dataclasses.replace(backend.postprocess, score_thr=thr, flip_tta=flip)
    geometry = {k: v for k, v in (("scale", args.scale), ("stretch_x", args.stretch_x)) if v is not None}
    if geometry:
        backend.preprocess = dataclasses.replace(backend.preprocess, **geometry)
