"""How tall a person looks in a posed still, and the resize ``sspnet detect`` picks from it: the pinhole geometry by
hand, the model's scale as the ceiling, and every case without a usable pose falling back to the model's scale."""
import math

import pytest

from sspnet.geo import CameraPose, Intrinsics, LocateOptions, PoseReading, person_height_px, still_scale
from sspnet.geo.person_size import MIN_SCALE, PERSON_DEPTH_M, PERSON_HEIGHT_M

INTR = Intrinsics.from_35mm(24, 4000, 3000)


def reading(pitch_deg: float, height_m: float | None = 50.0, asl_m: float | None = 62.0) -> PoseReading:
    pose = CameraPose(36.5, -6.3, yaw_deg=180.0, pitch_deg=pitch_deg, height_above_takeoff_m=height_m,
                      altitude_asl_m=asl_m)
    return PoseReading(pose, INTR)


def test_nadir_sees_the_shoulders_from_the_height():
    px, why = person_height_px(reading(-90.0), (4000, 3000))
    assert why == "" and px == pytest.approx(INTR.fy_px * PERSON_DEPTH_M / 50.0)


@pytest.mark.parametrize("pitch", [-30.0, -45.0, -60.0])
def test_oblique_views_add_the_body_at_the_slant_range(pitch):
    d = math.radians(-pitch)
    want = INTR.fy_px * (PERSON_HEIGHT_M * math.cos(d) + PERSON_DEPTH_M * math.sin(d)) / (50.0 / math.sin(d))
    px, _ = person_height_px(reading(pitch), (4000, 3000))
    assert px == pytest.approx(want)


def test_a_half_size_copy_of_the_still_halves_the_person():
    full, _ = person_height_px(reading(-90.0), (4000, 3000))
    half, _ = person_height_px(reading(-90.0), (2000, 1500))
    assert half == pytest.approx(full / 2)


def test_scale_brings_the_person_to_the_models_height():
    px, _ = person_height_px(reading(-90.0), (4000, 3000))
    s = still_scale(reading(-90.0), (4000, 3000), model_scale=3.5, model_person_px=30.0)
    assert s.source == "pose" and s.person_px == pytest.approx(px)
    assert s.scale == round(30.0 / px, 2) and s.scale < 3.5


def test_the_models_scale_is_the_ceiling_and_min_scale_the_floor():
    high = still_scale(reading(-90.0, height_m=2000.0), (4000, 3000), model_scale=3.5, model_person_px=30.0)
    assert (high.source, high.scale) == ("pose", 3.5)          # tiny persons: no more up-scaling than validated
    low = still_scale(reading(-90.0, height_m=0.5), (4000, 3000), model_scale=3.5, model_person_px=30.0)
    assert low.scale == MIN_SCALE


@pytest.mark.parametrize("case, detail", [
    (PoseReading(None, None, "x.jpg: no GPS"), "no GPS"),
    (reading(-5.0), "below the horizon"),
    (reading(-90.0, height_m=None), "no height above take-off"),
])
def test_no_usable_pose_keeps_the_models_scale(case, detail):
    s = still_scale(case, (4000, 3000), model_scale=3.5, model_person_px=30.0)
    assert (s.scale, s.source) == (3.5, "manifest") and detail in s.detail


def test_a_model_without_person_height_keeps_its_scale():
    s = still_scale(reading(-90.0), (4000, 3000), model_scale=2.0, model_person_px=0.0)
    assert (s.scale, s.source) == (2.0, "manifest") and "person_px" in s.detail


def test_ground_options_are_used():
    near, _ = person_height_px(reading(-90.0), (4000, 3000), LocateOptions(ground_below_takeoff_m=-25.0))
    far, _ = person_height_px(reading(-90.0), (4000, 3000))
    assert near == pytest.approx(2 * far)                       # ground 25 m higher: half the distance
