"""Camera pose of a still: EXIF + DJI XMP round trip, both XMP forms, intrinsics, camera YAML, missing pose → reason."""
import math

import numpy as np
import pytest
from PIL import Image

from sspnet.config import ConfigError
from sspnet.geo import Intrinsics, load_camera, pose_from_image
from sspnet.geo.exif import exif_bytes
from sspnet.geo.xmp import dji_fields, dji_xmp_packet


def _jpeg(path, size=(400, 300), exif=None, xmp=None):
    img = Image.fromarray(np.full((size[1], size[0], 3), 120, np.uint8))
    kwargs = {"exif": exif} if exif else {}
    if xmp:
        kwargs["xmp"] = xmp
    img.save(path, "JPEG", **kwargs)
    return path


DJI = {"AbsoluteAltitude": "+131.20", "RelativeAltitude": "+49.80", "GimbalRollDegree": "+0.00",
       "GimbalYawDegree": "-90.10", "GimbalPitchDegree": "-35.50", "FlightYawDegree": "-88.00"}


def test_exif_and_dji_xmp_round_trip(tmp_path):
    exif = exif_bytes(lat_deg=-33.8567844, lon_deg=151.2152967, altitude_asl_m=131.2, focal_mm=4.5, focal_35mm=24)
    r = pose_from_image(_jpeg(tmp_path / "a.jpg", (4000, 3000), exif, dji_xmp_packet(DJI)))
    assert r.complete and r.reason == ""
    p = r.pose
    assert p.lat_deg == pytest.approx(-33.8567844, abs=1e-8) and p.lon_deg == pytest.approx(151.2152967, abs=1e-8)
    assert p.yaw_deg == pytest.approx(269.9)          # DJI's -90.10 is a compass heading of 269.9
    assert p.flight_yaw_deg == pytest.approx(272.0)
    assert (p.pitch_deg, p.roll_deg) == (-35.5, 0.0)
    assert p.height_above_takeoff_m == 49.8 and p.altitude_asl_m == 131.2
    assert "yaw from gimbal" in p.source
    # 24 mm equivalent on 4000x3000: f = 24 * 5000 px / 43.267 mm = 2773.5 px, a diagonal field of view of 84.06 deg
    assert r.intrinsics.fx_px == pytest.approx(2773.50, abs=0.01)
    assert 2 * math.degrees(math.atan(2500 / r.intrinsics.fx_px)) == pytest.approx(84.06, abs=0.01)
    assert (r.intrinsics.cx_px, r.intrinsics.cy_px) == (2000.0, 1500.0)


def test_xmp_elements_form_and_gps_from_xmp(tmp_path):
    packet = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
              b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              b'<rdf:Description xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/">'
              b"<drone-dji:GpsLatitude>47.3977</drone-dji:GpsLatitude>"
              b"<drone-dji:GpsLongtitude>8.5456</drone-dji:GpsLongtitude>"  # DJI's own misspelling
              b"<drone-dji:RelativeAltitude>+30.0</drone-dji:RelativeAltitude>"
              b"<drone-dji:GimbalPitchDegree>-90.0</drone-dji:GimbalPitchDegree>"
              b"<drone-dji:FlightYawDegree>+180.0</drone-dji:FlightYawDegree>"
              b'</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')
    assert dji_fields(packet)["GpsLongtitude"] == "8.5456"
    r = pose_from_image(_jpeg(tmp_path / "e.jpg", xmp=packet), camera=Intrinsics.from_35mm(24, 800, 600))
    assert r.complete
    assert (r.pose.lat_deg, r.pose.lon_deg, r.pose.yaw_deg) == (47.3977, 8.5456, 180.0)
    assert "flight" in r.pose.source                    # says the heading is the aircraft's, not the gimbal's
    assert r.intrinsics.width_px == 400 and r.intrinsics.fx_px == pytest.approx(
        Intrinsics.from_35mm(24, 800, 600).fx_px / 2)   # the --camera intrinsics scaled to the image


@pytest.mark.parametrize("make, reason", [
    (lambda p: _jpeg(p), "no GPS position"),
    (lambda p: _jpeg(p, exif=exif_bytes(lat_deg=1, lon_deg=2, altitude_asl_m=10, focal_mm=4.5, focal_35mm=24)),
     "no camera attitude"),
    (lambda p: _jpeg(p, exif=exif_bytes(lat_deg=0, lon_deg=0, altitude_asl_m=10, focal_mm=4.5, focal_35mm=24),
                     xmp=dji_xmp_packet(DJI)), "0,0"),
    (lambda p: _jpeg(p, exif=exif_bytes(lat_deg=1, lon_deg=2, altitude_asl_m=10, focal_mm=4.5, focal_35mm=24),
                     xmp=b'<!DOCTYPE x [<!ENTITY a "b">]><x/>'), "DTD"),
])
def test_missing_or_unusable_pose_gives_a_reason_not_a_guess(tmp_path, make, reason):
    r = pose_from_image(make(tmp_path / "x.jpg"))
    assert r.pose is None and not r.complete and reason in r.reason


def test_no_focal_length_means_no_intrinsics(tmp_path):
    exif = bytes(exif_bytes(lat_deg=1, lon_deg=2, altitude_asl_m=10, focal_mm=4.5, focal_35mm=0))
    r = pose_from_image(_jpeg(tmp_path / "f.jpg", exif=exif, xmp=dji_xmp_packet(DJI)))
    assert r.pose is not None and r.intrinsics is None and "--camera" in r.reason


def test_dewarp_data_wins_over_the_35mm_equivalent(tmp_path):
    exif = exif_bytes(lat_deg=1, lon_deg=2, altitude_asl_m=10, focal_mm=4.5, focal_35mm=24)
    xmp = dji_xmp_packet({**DJI, "DewarpFlag": "0",
                          "DewarpData": "2022-06-08;3678.87,3671.04,7.66,-19.34,-0.11,0.01,0.0003,-0.0004,-0.026"})
    r = pose_from_image(_jpeg(tmp_path / "d.jpg", (5280, 3956), exif, xmp))
    i = r.intrinsics
    assert (i.fx_px, i.fy_px, i.cx_px, i.cy_px) == (3678.87, 3671.04, 2640 + 7.66, 1978 - 19.34)


def test_camera_yaml(tmp_path):
    (tmp_path / "a.yaml").write_text("width: 4000\nheight: 3000\nfx: 2900\ncy: 1490\n")
    a = load_camera(tmp_path / "a.yaml")
    assert (a.fx_px, a.fy_px, a.cx_px, a.cy_px) == (2900.0, 2900.0, 2000.0, 1490.0)
    (tmp_path / "b.yaml").write_text("width: 4000\nheight: 3000\nfocal_length_mm: 4.5\nsensor_width_mm: 6.4\n")
    assert load_camera(tmp_path / "b.yaml").fx_px == pytest.approx(4.5 * 4000 / 6.4)
    half = load_camera(tmp_path / "b.yaml").scaled_to(2000, 1500)
    assert half.fx_px == pytest.approx(4.5 * 2000 / 6.4) and half.cx_px == 1000.0
    with pytest.raises(ValueError, match="aspect ratio"):
        a.scaled_to(4000, 2250)
    (tmp_path / "c.yaml").write_text("width: 4000\nheight: 3000\nfocal: 24\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: unknown key 'focal'"):
        load_camera(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("fx: 2900\n")
    with pytest.raises(ConfigError, match="'width' and 'height'"):
        load_camera(tmp_path / "d.yaml")
