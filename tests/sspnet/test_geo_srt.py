"""DJI SRT sidecars: each layout, the lat/lon order of the GPS(...) forms, smoothing, poses per video time."""
import numpy as np
import pytest

from sspnet.geo import LocateOptions, SrtTrack, locate_detections, parse_srt
from sspnet.geo.ground import enu_to_latlon, latlon_to_enu
from sspnet.geo.srt import smooth_series
from sspnet.synth.srt_sidecar import canvas_to_latlon, clip_intrinsics, clip_srt_text
from sspnet.synth.video import Clip

MINI3 = """1
00:00:00,000 --> 00:00:00,033
<font size="28">FrameCnt: 1, DiffTime: 33ms
2023-04-12 15:01:21.123
[iso: 100] [shutter: 1/1000.0] [fnum: 2.8] [ev: 0] [focal_len: 24.00] [latitude: 41.424734] [longitude: 2.234166] [rel_alt: 50.100 abs_alt: 520.300] [gb_yaw: -91.8 gb_pitch: -45.2 gb_roll: 0.0] </font>

2
00:00:00,033 --> 00:00:00,066
<font size="28">FrameCnt: 2, DiffTime: 33ms
[latitude : 41.424744] [longitude : 2.234176] [rel_alt: 50.200 abs_alt: 520.400] </font>
"""
AIR2S = """1
00:00:00,000 --> 00:00:00,033
<font size="36">SrtCnt : 1, DiffTime : 33ms
2022-08-07 13:40:40,774,808
[iso : 100] [shutter : 1/80.0] [fnum : 280] [ev : 0] [ct : 5744] [focal_len : 240] [latitude: 41.424724] [longitude: 2.234156] [altitude: 117.000000] </font>
"""
PHANTOM4 = """1
00:00:01,000 --> 00:00:02,000
HOME(131.1660,-25.2088) 2017.07.29 15:18:50
GPS(131.1660,-25.2088,14) BAROMETER:35.5
ISO:100 Shutter:60 EV: Fnum:2.2
"""
M300 = """1
00:00:00,000 --> 00:00:01,000
2022.06.21 16:06:17
GPS(36.6146,-6.1120,0.0M) BAROMETER:80.3M
"""
MAVIC_AIR = """1
00:00:05,000 --> 00:00:06,000
F/2.8, SS 320, ISO 100, EV 0, GPS (8.6088, 47.3978, 18), D 12.34m, H 45.60m, HS 0.00m/s, VS 0.00m/s
"""


def test_layouts_and_gps_order():
    a, b = parse_srt(MINI3)
    assert (a.layout, a.lat_deg, a.lon_deg, a.height_above_takeoff_m, a.altitude_asl_m) == (
        "bracketed", 41.424734, 2.234166, 50.1, 520.3)
    assert (a.yaw_deg, a.pitch_deg, a.roll_deg, a.decimals) == (-91.8, -45.2, 0.0, 6)
    assert b.lat_deg == 41.424744 and b.pitch_deg is None and b.start_s == pytest.approx(0.033)
    (s,) = parse_srt(AIR2S)
    assert (s.altitude_asl_m, s.height_above_takeoff_m) == (117.0, None)   # 'altitude' is above sea level
    (s,) = parse_srt(AIR2S.replace("[longitude: 2.234156]", "[longtitude : 2.234156]"))   # Mavic 2's spelling
    assert (s.lat_deg, s.lon_deg) == (41.424724, 2.234156)
    (s,) = parse_srt(PHANTOM4)   # GPS(lon, lat, satellites): Uluru, not a point off Antarctica
    assert (s.layout, s.lat_deg, s.lon_deg, s.height_above_takeoff_m, s.decimals) == (
        "gps-barometer", -25.2088, 131.166, 35.5, 4)
    (s,) = parse_srt(M300)       # GPS(lat, lon, altitude M): Cadiz
    assert (s.lat_deg, s.lon_deg, s.height_above_takeoff_m) == (36.6146, -6.112, 80.3)
    (s,) = parse_srt(MAVIC_AIR)  # GPS (lon, lat, satellites), H = height above home
    assert (s.layout, s.lat_deg, s.lon_deg, s.height_above_takeoff_m, s.start_s) == ("gps-dh", 47.3978, 8.6088,
                                                                                     45.6, 5.0)
    assert parse_srt("1\n00:00:00,000 --> 00:00:01,000\nno telemetry here\n") == []


def test_smoothing_undoes_most_of_a_4_decimal_grid():
    t = np.arange(0.0, 60.0, 1.0)                                   # 1 Hz, 5 m/s north-east
    e_true, n_true = 3.0 * t, 4.0 * t
    lat, lon = enu_to_latlon(e_true, n_true, 36.6, -6.1)
    lat_q, lon_q = np.round(lat, 4), np.round(lon, 4)               # the file's 4 decimals: an ~11 m grid
    text = "\n".join(f"{i + 1}\n00:00:{int(s):02d},000 --> 00:00:{int(s) + 1:02d},000\n"
                     f"GPS({lo:.4f},{la:.4f},15) BAROMETER:50.0\n"
                     for i, (s, la, lo) in enumerate(zip(t, lat_q, lon_q)))
    raw_e, raw_n = latlon_to_enu(lat_q, lon_q, 36.6, -6.1)
    raw_err = np.hypot(raw_e - e_true, raw_n - n_true)[10:-10]
    track = SrtTrack(parse_srt(text), window_s=10.0)
    pts = [track.pose_at(s, pitch_deg=-90.0, yaw_deg=0.0)[0] for s in t[10:-10]]
    e, n = latlon_to_enu([p.lat_deg for p in pts], [p.lon_deg for p in pts], 36.6, -6.1)
    err = np.hypot(e - e_true[10:-10], n - n_true[10:-10])
    assert np.sqrt(np.mean(err ** 2)) < 0.35 * np.sqrt(np.mean(raw_err ** 2))
    assert pts[0].position_sigma_m == pytest.approx(11.132 / np.sqrt(12), rel=1e-3)   # the grid's 1-sigma is kept
    # a straight line is reproduced exactly; a lone sample is left alone
    np.testing.assert_allclose(smooth_series(t, 2.0 * t + 1.0, 5.0), 2.0 * t + 1.0, atol=1e-9)
    np.testing.assert_allclose(smooth_series([0.0], [7.0], 5.0), [7.0])


def test_pose_at_attitude_and_time_range(tmp_path):
    track = SrtTrack(parse_srt(PHANTOM4))
    pose, reason = track.pose_at(1.5)
    assert pose is None and "no gimbal attitude" in reason
    pose, _ = track.pose_at(1.5, pitch_deg=-60.0, yaw_deg=-90.0)
    assert (pose.pitch_deg, pose.yaw_deg, pose.height_above_takeoff_m) == (-60.0, 270.0, 35.5)
    assert track.pose_at(30.0, pitch_deg=-60.0, yaw_deg=0.0)[0] is None
    mini = SrtTrack(parse_srt(MINI3))
    pose, _ = mini.pose_at(0.0, pitch_deg=-10.0, yaw_deg=5.0)        # recorded angles win over given ones
    assert (pose.pitch_deg, pose.yaw_deg) == (-45.2, pytest.approx(268.2))
    reading = mini.reading_at(0.0, None)
    assert not reading.complete and "--camera" in reading.reason
    with pytest.raises(ValueError, match="no SRT entry"):
        (tmp_path / "x.SRT").write_text(MINI3.replace("latitude", "lat"))
        SrtTrack.from_file(tmp_path / "x.SRT")


def test_synthetic_clip_srt_locates_its_persons():
    clip = Clip(2.0, 5.0, (320, 240), 3, scene_kind="grass")
    track = SrtTrack(parse_srt(clip_srt_text(clip)))
    assert len(track.samples) == clip.n_frames and track.layout == "bracketed"
    canvas_wh = (clip.world.canvas_bgr.shape[1], clip.world.canvas_bgr.shape[0])
    errors = []
    for i in (0, 5, 9):
        t_s, _, boxes = clip.frame(i)
        standing = [b for b in boxes if b.pose == "standing" and not b.ignore]
        results = locate_detections(track.reading_at(t_s, clip_intrinsics(clip.size_wh)),
                                    [b.box_xyxy for b in standing], clip.size_wh, LocateOptions(samples=50))
        for b, r in zip(standing, results):
            lat, lon = canvas_to_latlon(clip.world.persons[b.track_id].anchor_at(t_s), canvas_wh, clip.size_wh)
            e, n = latlon_to_enu(r.lat_deg, r.lon_deg, lat, lon)
            errors.append(float(np.hypot(e, n)))
    assert len(errors) >= 3 and max(errors) < 0.2                  # 6-decimal GPS, 11 cm pixels
