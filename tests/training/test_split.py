"""Group splits: deterministic rule, record selection, stale-split errors, the committed tinyperson-rpi-dev split."""
import json
from pathlib import Path

import pytest

from sspnet.data.record import ImageRecord
from sspnet.training.split import covers, group_split, read_split, select_records

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"          # the shared folder next to the repository, on dev machines only
MANIFESTS = [DATA / "tinyperson-rpi-dev" / "manifest.csv", DATA / "tinyperson-rpi-extra" / "manifest.csv"]


def _rec(name):
    return ImageRecord(image_path=f"/x/images/{name}", width=10, height=10, image_id=1, file_name=name)


def _manifest(tmp_path):
    rows = ["file,group,n_boxes"] + [f"{g}_{i}.jpg,{g},1" for g in ("d", "a", "c", "b", "e") for i in range(2)]
    p = tmp_path / "manifest.csv"
    p.write_text("\n".join(rows) + "\n")
    return p


def test_rule_is_sorted_groups_every_fourth(tmp_path):
    s = group_split(_manifest(tmp_path))
    assert s["groups"] == {"train": ["b", "c", "d"], "val": ["a", "e"]}
    assert s["files"]["val"] == ["a_0.jpg", "a_1.jpg", "e_0.jpg", "e_1.jpg"]
    assert group_split(_manifest(tmp_path)) == s


def test_select_records_by_part_and_passthrough(tmp_path):
    s = group_split(_manifest(tmp_path))
    recs = [_rec(f"{g}_{i}.jpg") for g in "abcde" for i in range(2)]
    assert [r.file_name for r in select_records(recs, s, "val")] == ["a_0.jpg", "a_1.jpg", "e_0.jpg", "e_1.jpg"]
    assert len(select_records(recs, s, "train")) == 6
    synth = [_rec("synth_000001.jpg")]
    assert not covers(synth, s) and select_records(synth, s, "train") == synth


def test_partly_covered_dataset_is_a_stale_split(tmp_path):
    s = group_split(_manifest(tmp_path))
    with pytest.raises(ValueError, match="stale"):
        select_records([_rec("a_0.jpg"), _rec("new.jpg")], s, "train")


def test_read_split_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{\"files\": {}}")
    with pytest.raises(ValueError, match="expected"):
        read_split(bad)
    with pytest.raises(FileNotFoundError):
        read_split(tmp_path / "missing.json")


def test_val_groups_split_several_manifests_together(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "manifest.csv").write_text("file,group\nx1.jpg,x\ny1.jpg,y\n")
    (b / "manifest.csv").write_text("file,group\nx2.jpg,x\nz1.jpg,z\n")
    s = group_split([a / "manifest.csv", b / "manifest.csv"], val_groups=["x"])
    assert s["files"] == {"train": ["y1.jpg", "z1.jpg"], "val": ["x1.jpg", "x2.jpg"]}
    with pytest.raises(ValueError, match="none of"):
        group_split([a / "manifest.csv"], val_groups=["nope"])


@pytest.mark.skipif(not all(m.is_file() for m in MANIFESTS), reason="../shared/data is not next to this checkout")
def test_committed_split_is_the_rule_applied_to_both_manifests():
    import csv
    committed = read_split(ROOT / "configs" / "splits" / "tinyperson-rpi-dev.json")
    assert committed == json.loads(json.dumps(group_split(MANIFESTS, val_groups=committed["groups"]["val"])))
    assert not set(committed["files"]["train"]) & set(committed["files"]["val"])
    rows = [r for m in MANIFESTS for r in csv.DictReader(open(m, newline=""))]
    val = [r for r in rows if r["group"] in set(committed["groups"]["val"])]
    # issue #11: validation is whole groups, at least 60 frames and 3,000 persons
    assert len(val) >= 60 and sum(int(r["n_boxes"]) for r in val) >= 3000
