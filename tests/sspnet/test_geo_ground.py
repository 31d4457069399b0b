"""The camera model against hand-computed cases: which way headings face, pitch, roll, projection, geodesy."""
import numpy as np
import pytest

from sspnet.geo import Intrinsics
from sspnet.geo.ground import (camera_to_enu, depression_deg, enu_to_latlon, intersect_ground, latlon_to_enu,
                               pixel_rays_enu, project_ground_to_pixels)

INTR = Intrinsics(1000.0, 1000.0, 500.0, 400.0, 1000, 800, "test")
CENTRE, UP, RIGHT = (500.0, 400.0), (500.0, 400.0 - 1000.0), (1500.0, 400.0)  # optical axis, 45 deg up, 45 deg right


def _ground(points, yaw, pitch, roll=0.0, height=50.0):
    return intersect_ground(pixel_rays_enu(np.array(points), INTR, yaw, pitch, roll), height)


@pytest.mark.parametrize("yaw, up_en, right_en", [
    (0.0, (0, 50), (50, 0)),        # heading north: image top is north, image right is east
    (90.0, (50, 0), (0, -50)),      # east: top east, right south
    (180.0, (0, -50), (-50, 0)),    # south: top south, right west (ADIAT stores 0 here)
    (270.0, (-50, 0), (0, 50)),
    (-90.0, (-50, 0), (0, 50)),     # DJI's -90 is 270
])
def test_nadir_headings(yaw, up_en, right_en):
    g = _ground([CENTRE, UP, RIGHT], yaw, -90.0)
    np.testing.assert_allclose(g, [(0, 0), up_en, right_en], atol=1e-9)


def test_oblique_heading_180_faces_south():
    # pitch -45 from 50 m: the optical axis meets the ground 50 m ahead, i.e. 50 m south for heading 180
    np.testing.assert_allclose(_ground([CENTRE], 180.0, -45.0), [(0.0, -50.0)], atol=1e-9)
    # pitch -30: 50 / tan(30 deg) = 86.60 m ahead, heading 90 = east
    np.testing.assert_allclose(_ground([CENTRE], 90.0, -30.0), [(86.6025, 0.0)], atol=1e-4)
    # 45 deg above the axis at pitch -60 is 15 deg below the horizon: 50 / tan(15 deg) = 186.60 m
    np.testing.assert_allclose(_ground([UP], 0.0, -60.0), [(0.0, 186.6025)], atol=1e-4)


def test_roll_turns_the_camera_clockwise_seen_from_behind():
    # level camera facing north, roll +90: the right side goes down (camera x -> -up), the top goes east
    np.testing.assert_allclose(camera_to_enu(0.0, 0.0, 90.0)[:, 0], [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(camera_to_enu(0.0, 0.0, 90.0)[:, 1], [-1, 0, 0], atol=1e-12)   # image down -> west
    # nadir (behind = above): roll +10 turns the image top from north 10 deg towards east
    s10, c10 = np.sin(np.radians(10.0)), np.cos(np.radians(10.0))
    np.testing.assert_allclose(_ground([UP], 0.0, -90.0, roll=10.0), [(50 * s10, 50 * c10)], atol=1e-9)


def test_rotation_is_orthonormal_and_right_handed():
    r = camera_to_enu(np.array([12.0, 200.0]), np.array([-33.0, -90.0]), np.array([4.0, -2.0]))   # [2, 3, 3]
    for m in r:
        np.testing.assert_allclose(m.T @ m, np.eye(3), atol=1e-12)
        assert np.linalg.det(m) == pytest.approx(1.0)


def test_projection_inverts_the_ray():
    pts = np.array([[12.0, 40.0], [-30.0, 70.0], [5.0, 120.0]])
    px, in_front = project_ground_to_pixels(pts, 50.0, INTR, 17.0, -40.0, 2.0)
    assert in_front.all()
    np.testing.assert_allclose(_ground(px, 17.0, -40.0, 2.0), pts, atol=1e-8)
    _, behind = project_ground_to_pixels(np.array([[0.0, -100.0]]), 50.0, INTR, 0.0, -10.0, 0.0)
    assert not behind.any()


def test_rays_at_or_above_the_horizon_never_reach_the_ground():
    rays = pixel_rays_enu(np.array([CENTRE, UP]), INTR, 0.0, -20.0, 0.0)   # axis 20 deg down, UP 25 deg above
    np.testing.assert_allclose(depression_deg(rays), [20.0, -25.0], atol=1e-9)
    g = intersect_ground(rays, 50.0)
    assert np.isfinite(g[0]).all() and np.isnan(g[1]).all()


def test_geodesy_is_pymap3d_wgs84():
    lat, lon = enu_to_latlon(np.array([0.0, 100.0]), np.array([100.0, 0.0]), 45.0, 7.0, 300.0)
    # one metre north at 45 deg is 1 / 111132.95 deg of latitude (WGS-84 meridian radius of curvature)
    assert (lat[0] - 45.0) * 111_132.95 == pytest.approx(100.0, rel=2e-4) and lon[0] == pytest.approx(7.0)
    assert (lon[1] - 7.0) * 111_412.88 * np.cos(np.radians(45.0)) == pytest.approx(100.0, rel=2e-3)
    e, n = latlon_to_enu(lat, lon, 45.0, 7.0, 300.0)
    np.testing.assert_allclose(np.column_stack([e, n]), [(0, 100), (100, 0)], atol=1e-6)
