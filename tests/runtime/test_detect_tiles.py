"""The core's ``detect_frame`` with ``max_batch`` runs a still through the model a chunk of tiles at a time (what
``sspnet detect`` does for 20 MP stills): the detections are those of all tiles at once, whatever the chunk, also
for a fixed-batch model and a frame up-scaled by the manifest."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sspnet.postprocess import detect_frame
from sspnet.preprocess import tile_count
from sspnet.runtime.backends import open_backend
from sspnet.synth.dataset import render_image


@pytest.fixture(scope="module")
def image():
    return render_image((720, 560), seed=3, index=0)[0]          # 720x560: tiles do not divide it evenly


@pytest.mark.parametrize("model, tile_batch, scale", [("dynamic", 3, 1.0), ("dynamic", 1000, 1.0),
                                                     ("fixed4", 16, 1.0), ("dynamic", 5, 1.5)])
def test_chunks_give_the_core_detections(models, image, model, tile_batch, scale):
    backend = open_backend(models[model])
    backend.preprocess = dataclasses.replace(backend.preprocess, scale=scale)
    try:
        boxes, scores = detect_frame(image, backend.preprocess, backend.postprocess, backend.infer,
                                     backend.max_batch or tile_batch)
        tiles = tile_count((image.shape[1], image.shape[0]), backend.preprocess)
        want_b, want_s = detect_frame(image, backend.preprocess, backend.postprocess, backend.infer,
                                      backend.max_batch)
    finally:
        backend.close()
    assert len(want_b) > 0
    if tile_batch < 1000:
        assert tiles > tile_batch                                 # more than one chunk
    np.testing.assert_allclose(boxes, want_b, rtol=0, atol=1e-4)
    np.testing.assert_allclose(scores, want_s, rtol=0, atol=1e-6)


def test_a_bad_image_is_refused(models):
    backend = open_backend(models["dynamic"])
    try:
        with pytest.raises(ValueError, match="HxWx3 uint8"):
            detect_frame(np.zeros((64, 64), np.uint8), backend.preprocess, backend.postprocess, backend.infer, 16)
    finally:
        backend.close()
