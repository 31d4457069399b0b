"""Synthetic stills with a camera pose: determinism, the metadata written, truth.geojson, pose noise, CLI errors."""
import json

import numpy as np
import pytest

from sspnet.cli import main as sspnet_main
from sspnet.geo import PoseErrors, pose_from_image
from sspnet.geo.ground import latlon_to_enu
from sspnet.geo.xmp import dji_xmp
from sspnet.synth.stills_pose import plan_still, write_stills_with_pose

SIZE = (800, 600)


def test_same_seed_same_bytes_and_truth(tmp_path):
    a = write_stills_with_pose(tmp_path / "a", 2, SIZE, seed=4, pitch_deg=-50.0)
    b = write_stills_with_pose(tmp_path / "b", 2, SIZE, seed=4, pitch_deg=-50.0)
    assert a.read_bytes() == b.read_bytes()
    for name in ("synth_pose_000000.jpg", "synth_pose_000001.jpg"):
        assert (tmp_path / "a/stills" / name).read_bytes() == (tmp_path / "b/stills" / name).read_bytes()
    assert write_stills_with_pose(tmp_path / "c", 1, SIZE, seed=5).read_bytes() != a.read_bytes()


def test_metadata_and_truth_agree_with_the_plan(tmp_path):
    doc = json.loads(write_stills_with_pose(tmp_path, 4, SIZE, seed=2, altitude_m=60.0, pitch_deg=-90.0).read_text())
    images = doc["sspnet"]["images"]
    assert [im["true_pose"]["yaw_deg"] for im in images] == [0.0, 90.0, 180.0, 270.0]
    assert dji_xmp(tmp_path / images[3]["image"])["GimbalYawDegree"] == "-90.00"        # DJI's -180..180 form
    for im in images:
        r = pose_from_image(tmp_path / im["image"])
        assert r.complete and r.pose.yaw_deg == im["true_pose"]["yaw_deg"]
        assert r.pose.height_above_takeoff_m == 60.0 and r.pose.altitude_asl_m == 72.0
        assert (r.pose.lat_deg, r.pose.lon_deg) == pytest.approx((im["true_pose"]["lat_deg"],
                                                                  im["true_pose"]["lon_deg"]), abs=1e-8)
    for f in doc["features"]:
        p = f["properties"]
        im = next(i for i in images if i["image"] == p["image"])
        lon, lat = f["geometry"]["coordinates"]
        e, n = latlon_to_enu(lat, lon, im["true_pose"]["lat_deg"], im["true_pose"]["lon_deg"], 12.0)
        assert (e, n) == pytest.approx((p["east_m"], p["north_m"]), abs=1e-3)   # truth from the ground offsets
        x1, y1, x2, y2 = p["box_xyxy"]
        assert 0 <= x1 < x2 <= SIZE[0] and 0 <= y1 < y2 <= SIZE[1]
        assert (x1 + x2) / 2 == pytest.approx(p["feet_xy_px"][0], abs=1.0) and y2 == pytest.approx(
            p["feet_xy_px"][1], abs=1.0)                                        # the box stands on the feet
    assert len(doc["features"]) >= 4 * 8


def test_pose_noise_moves_the_record_not_the_truth():
    clean = plan_still(0, 9, SIZE, 50.0, -40.0, 30.0, None)
    noisy = plan_still(0, 9, SIZE, 50.0, -40.0, 30.0, PoseErrors())
    assert noisy.true_pose == clean.true_pose and clean.recorded_pose == clean.true_pose
    np.testing.assert_array_equal(noisy.truth_latlon, clean.truth_latlon)
    assert noisy.recorded_pose != noisy.true_pose
    e, n = latlon_to_enu(noisy.recorded_pose.lat_deg, noisy.recorded_pose.lon_deg, clean.true_pose.lat_deg,
                         clean.true_pose.lon_deg)
    assert 0 < np.hypot(e, n) < 5 * 2.0 * 1.5                                # a GPS-sized offset


@pytest.mark.parametrize("args", [["--stills", "-1"], ["--stills", "1", "--pitch", "-5"],
                                  ["--stills", "1", "--pitch", "-95"], ["--stills", "1", "--altitude", "0"]])
def test_cli_usage_errors_exit_2(tmp_path, args, capsys):
    assert sspnet_main(["synth", "--out", str(tmp_path / "o")] + args) == 2
    assert "sspnet synth: error:" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
