"""Bootstrap interval over groups: groups from TinyPerson/Roboflow file names, the interval brackets the value,
widens when groups disagree and collapses when they agree."""
import numpy as np

from sspnet.data.record import ImageRecord
from sspnet.evaluation.bootstrap import bootstrap_interval, group_of


def test_group_of_video_frames_and_web_images():
    assert group_of("images/bb_V0025_I0001240_jpg.rf.0123abcd.jpg") == "bb_V0025"
    assert group_of("chitube_V0007_I0000120_jpg.rf.ff.jpg") == "chitube_V0007"
    assert group_of("baidu_P000_14_jpg.rf.f01d55.jpg") == "baidu_P000_14"
    assert group_of("synth_000003.png") == "synth_000003"


def _case(hit_per_group):
    """One 10x10 person per frame, 3 frames per group; group g's detections hit only when hit_per_group[g]."""
    records, dets = [], {}
    box = np.array([[100, 100, 110, 110]], np.float32)
    for g, hit in enumerate(hit_per_group):
        for f in range(3):
            i = len(records) + 1
            records.append(ImageRecord(image_path="x.jpg", width=640, height=512, image_id=i,
                                       file_name=f"g{g}_V{g:04d}_I{f:07d}_jpg.rf.x.jpg", boxes_xyxy=box))
            det = box if hit else box + 300
            dets[i] = (det.astype(np.float64), np.array([0.9]))
    return records, dets


def test_interval_brackets_value_and_reflects_group_spread():
    agree = bootstrap_interval(*_case([True] * 6), rounds=50)
    assert agree["value"] == 100.0 and agree["lo"] == agree["hi"] == 100.0 and agree["groups"] == 6
    mixed = bootstrap_interval(*_case([True, True, True, False, False, False]), rounds=200)
    assert mixed["lo"] <= mixed["value"] <= mixed["hi"]
    assert mixed["hi"] - mixed["lo"] > 20                      # whole groups in or out: a wide interval
    assert bootstrap_interval(*_case([True, True, True, False, False, False]), rounds=200) == mixed   # seeded
