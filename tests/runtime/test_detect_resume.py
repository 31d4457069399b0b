"""A killed ``sspnet detect`` (SIGKILL, mid-run) loses at most the image in flight, and the re-run appends only
what is missing: the run folder ends byte-for-byte as after one uninterrupted run (log and timings aside). Ctrl-C
stops after the image in flight, with the outputs written."""
from __future__ import annotations

import signal
import time

import pytest
from detectkit import read_jsonl, run_detect, run_outputs, start_detect, write_stills

N = 8


@pytest.fixture(scope="module")
def stills(tmp_path_factory):
    root = tmp_path_factory.mktemp("stills") / "flight"
    write_stills(root, [f"img{i}.jpg" for i in range(N)], seed=11)
    return root


@pytest.fixture(scope="module")
def one_run(stills, models, tmp_path_factory):
    run = tmp_path_factory.mktemp("once") / "run"        # same folder name: the page title is the folder's name
    r = run_detect(stills, "--model", models["slow"], "--out", run)
    assert r.returncode == 0, r.stderr
    return run_outputs(run)


def lines_in(run) -> int:
    f = run / "detections.jsonl"
    return f.read_bytes().count(b"\n") if f.is_file() else 0


def wait_lines(proc, run, n: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while lines_in(run) < n:
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.02)


def test_sigkill_then_rerun_gives_the_outputs_of_one_run(stills, models, one_run, tmp_path):
    run = tmp_path / "run"
    p = start_detect(stills, "--model", models["slow"], "--out", run)
    wait_lines(p, run, 2)
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    done = lines_in(run)
    assert 2 <= done < N, "the kill came too late to test a resume"
    assert not (run / "review.html").exists()                     # killed before the outputs
    r = run_detect(stills, "--model", models["slow"], "--out", run)
    assert r.returncode == 0, r.stderr
    assert f"{done} done before, {N - done} to do" in r.stderr
    assert run_outputs(run) == one_run


def test_a_line_cut_short_by_a_kill_is_dropped_and_redone(stills, models, one_run, tmp_path):
    """The kill can land inside a line's write: the re-run drops the partial line and redoes that image."""
    run = tmp_path / "run"
    lines = one_run["detections.jsonl"].split(b"\n")
    for name, data in one_run.items():                           # the state of a run killed in line 4
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_bytes(data)
    (run / "detections.jsonl").write_bytes(b"\n".join(lines[:3]) + b"\n" + lines[3][:40])
    for name in ("review.html", "results.coco.json", "images.coco.json"):
        (run / name).unlink()
    (run / "chips" / ".x_0.jpg.abc.tmp").write_bytes(b"half a chip")   # a temp file the kill left
    r = run_detect(stills, "--model", models["slow"], "--out", run)
    assert r.returncode == 0, r.stderr
    assert "dropped an unfinished last line" in r.stderr and f"3 done before, {N - 3} to do" in r.stderr
    assert run_outputs(run) == one_run


def test_ctrl_c_stops_after_the_image_in_flight(stills, models, one_run, tmp_path):
    run = tmp_path / "run"
    p = start_detect(stills, "--model", models["slow"], "--out", run)
    wait_lines(p, run, 1)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    done = len(read_jsonl(run / "detections.jsonl"))
    assert done < N and "stopping after the image in flight" in err
    assert (run / "review.html").is_file() and (run / "results.coco.json").is_file()   # outputs of what is done
    r = run_detect(stills, "--model", models["slow"], "--out", run)
    assert r.returncode == 0 and run_outputs(run) == one_run
