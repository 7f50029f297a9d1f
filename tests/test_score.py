"""Scoring methods under the protocol: known answers for the reference rows, unavailable methods with their
reason, a bad clip skipped with its reason."""
import csv
import json
import sys

import pytest

from spacex import config, files, media
from spacex.evaluate import score


@pytest.fixture
def cfg(small_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no_weights"))  # LPIPS / FID / SyncNet weights absent
    broken = tmp_path / "broken"
    broken.mkdir()
    return config.load("smoke", overrides={
        "corpus.root": str(small_corpus), "evaluate.out": str(tmp_path / "ev"),
        "evaluate.reports": str(tmp_path / "rep"), "animate.out": str(tmp_path / "no_renders"),
        "evaluate.max_clips": 1, "evaluate.baselines": {"folders": {"broken": {"root": str(broken)}}}})


def test_ground_truth_and_static_rows(cfg, tmp_path):
    gt = score.score_method(cfg, "ground_truth", progress=False)
    assert gt["status"] == "ok" and gt["clips"] == 1
    m = gt["metrics"]
    assert m["psnr"] == "inf" and m["ssim"] == pytest.approx(1.0) and m["lmd_mouth"] == 0 and m["lmd_face"] == 0
    assert m["av_corr"] > 0.2  # real speech moves the real mouth
    for k in ("lpips", "fid", "lse_d"):
        assert "missing" in gt["unavailable_metrics"][k] and k not in m
    static = score.score_method(cfg, "static", progress=False)["metrics"]
    assert static["psnr"] < 60 and static["lmd_mouth"] > 0
    assert static["angular_speed"] < m["angular_speed"]  # the still photo does not move
    assert static["av_corr"] is None or static["av_corr"] < m["av_corr"]
    # the files the report reads
    rep = files.read_metrics(tmp_path / "rep" / "static.json")
    numbers = json.loads((tmp_path / "rep" / "static.json").read_text())  # what `dvc metrics show` reads
    assert set(numbers) == {"clips", "metrics"} and all(isinstance(v, (int, float)) for v in numbers["metrics"].values())
    assert "lpips" in files.read_metrics(tmp_path / "rep" / "static.json")["unavailable_metrics"]
    assert rep["protocol"]["fps"] == 25 and rep["protocol"]["crop_size"] == 128
    rows = list(csv.DictReader(open(tmp_path / "ev" / "static" / "per_clip.csv")))
    assert len(rows) == 1 and rows[0]["lpips"] == ""
    # one metric registry: what scoring writes is what the report knows
    from spacex.evaluate.metrics import registry

    assert list(rows[0]) == score.FIELDS and score.FIELDS[3:] == list(registry.PER_CLIP)
    assert set(rep["metrics"]) | set(rep["unavailable_metrics"]) <= set(registry.TABLE)
    clip_id = rows[0]["clip_id"]
    info = media.probe(tmp_path / "ev" / "static" / "eval" / f"{clip_id}.mp4")
    assert (info.width, info.fps, info.has_audio) == (128, 25, True)


def test_true_blinks_are_read_at_the_protocols_frames(tmp_path):
    """blink_depth's track: the corpus's eye closure at each scored frame's time, nearest frame, ties earlier
    (as the protocol resamples video); None without one, and an unreadable track costs only blink_depth."""
    import numpy as np

    from spacex.corpus import clip as clipfmt

    clipfmt.write_groundtruth(tmp_path, "c1", {"eye_closure": np.arange(40)})  # value = frame index
    row = {"corpus": str(tmp_path), "clip_id": "c1", "fps": "30", "has_groundtruth": "True"}
    assert score.true_closure(row, 6, 25.0).tolist() == [0, 1, 2, 4, 5, 6]  # times x 30/25: 0 1.2 2.4 3.6 4.8 6
    assert score.true_closure(row | {"fps": "37.5"}, 4, 25.0).tolist() == [0, 1, 3, 4]  # 1.5 and 4.5: ties
    assert score.true_closure(row, 60, 25.0)[-1] == 39  # past the track's end: its last frame
    assert score.true_closure(row | {"has_groundtruth": "False"}, 6, 25.0) is None
    assert score.true_closure(row | {"clip_id": "c2"}, 6, 25.0) is None  # flagged, but no arrays on disk


def test_scoring_twice_gives_identical_files(cfg, tmp_path):
    """Issue 12 (1): the evaluate stage repeats to the byte on one machine (per-clip rows and the metrics file)."""
    import dataclasses

    runs = []
    for run in ("a", "b"):
        c = dataclasses.replace(cfg, evaluate=dataclasses.replace(cfg.evaluate, out=str(tmp_path / run),
                                                                  reports=str(tmp_path / f"rep_{run}")))
        score.score_method(c, "static", progress=False)
        runs.append((tmp_path / run / "static" / "per_clip.csv", tmp_path / f"rep_{run}" / "static.json"))
    for a, b in zip(*runs):
        assert a.read_bytes() == b.read_bytes(), (a, b)


def test_unavailable_methods_say_why(cfg, tmp_path):
    s = score.score_method(cfg, "spacex", progress=False)
    assert s["status"] == "unavailable" and "run the animate stage" in s["reason"]
    w = score.score_method(cfg, "wav2lip", progress=False)
    assert w["status"] == "unavailable" and "no repository configured" in w["reason"]
    assert files.read_metrics(tmp_path / "rep" / "wav2lip.json")["status"] == "unavailable"
    assert json.loads((tmp_path / "rep" / "wav2lip.info.json").read_text())["status"] == "unavailable"
    with pytest.raises(ValueError, match="unknown method"):
        score.score_method(cfg, "nonsense", progress=False)


def test_a_bad_clip_is_skipped_with_its_reason(cfg, tmp_path, small_corpus):
    from spacex.corpus import clip as clipfmt

    clip_id = [r for r in clipfmt.read_manifest(small_corpus) if r["split"] == "test"][0]["clip_id"]
    (tmp_path / "broken" / f"{clip_id}.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    s = score.score_method(cfg, "broken", progress=False)
    assert s["status"] == "unavailable" and s["skipped"][0][0] == clip_id
    assert "MediaError" in s["skipped"][0][1]


def test_cli_scores_and_reports(small_corpus, tmp_path, monkeypatch):
    """`spacex evaluate` then `spacex report` through a params file, as a user would run them."""
    import yaml

    from spacex.cli import main

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no_weights"))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    params = yaml.safe_load(open(config.find_params()))
    prof = params["profiles"]["smoke"]
    prof["corpus"]["root"] = str(small_corpus)
    prof["evaluate"].update(out=str(tmp_path / "ev"), reports=str(tmp_path / "rep"), report=str(tmp_path / "report"),
                            max_clips=1, videos=1)
    prof["ablation"]["reports"] = str(tmp_path / "ablation")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    p = ["--params", str(tmp_path / "params.yaml")]
    assert main(["evaluate", *p, "--quiet", "ground_truth", "static", "pcavs"]) == 0
    assert main(["report", *p]) == 0
    table = (tmp_path / "report" / "table.md").read_text()
    assert "ground_truth" in table and "static" in table and "no repository configured" in table
    assert list((tmp_path / "report" / "side_by_side").glob("*.mp4"))


def test_metrics_files_hold_numbers_and_read_back_whole(tmp_path):
    summary = {"method": "m", "status": "ok", "clips": 3, "protocol": {"fps": 25}, "skipped": [["c", "why"]],
               "metrics": {"psnr": 21.5, "fid": None, "lse_d": float("inf"), "ok": True},
               "nested": {"a": {"b": 1, "c": "x"}}}
    files.write_metrics(tmp_path / "m.json", summary, settings=("protocol",))
    numbers = json.loads((tmp_path / "m.json").read_text())
    assert numbers == {"clips": 3, "metrics": {"psnr": 21.5, "lse_d": float("inf")}, "nested": {"a": {"b": 1}}}
    assert files.read_metrics(tmp_path / "m.json") == summary
    assert files.is_info(tmp_path / "m.info.json") and not files.is_info(tmp_path / "m.json")


def test_baseline_face_crops_are_registered_by_detection(cfg, tmp_path):
    """PC-AVS with paste_back false returns its own 224 face crops (framing "crop"): evaluate registers them to the
    photo by detection and warps them into the photo's framing (no photo pixels), so the ground truth's box cuts
    the same face; far closer to the ground truth's crop than the crop resized to the frame and cut with that box."""
    import numpy as np

    from spacex.corpus import clip as clipfmt
    from spacex.evaluate import protocol as proto
    from standins import repos

    pcavs = {"repo": str(repos.pcavs_repo(tmp_path)), "python": sys.executable, "paste_back": False,
             "env": {**repos.baseline_env(tmp_path), "PCAVS_STANDIN_STEP": "0.002"}}
    c = config.load("smoke", overrides={"corpus.root": cfg.corpus.root, "evaluate.out": str(tmp_path / "ev"),
                                        "evaluate.reports": str(tmp_path / "rep"), "evaluate.max_clips": 1,
                                        "evaluate.baselines": {"pcavs": pcavs}})
    s = score.score_method(c, "pcavs", progress=False)
    assert s["status"] == "ok" and s["clips"] == 1, s
    crops = next((tmp_path / "ev" / "pcavs" / "videos").glob("*[0-9].mp4"))
    assert json.loads(crops.with_suffix(".json").read_text())["framing"] == "crop"
    framed = crops.with_name(f"{crops.stem}.framed.mp4")
    gt_video = clipfmt.clip_paths(c.corpus.root, crops.stem)["video"]
    P = score.protocol_of(c)
    box, size = proto.gt_box(gt_video, P)
    assert media.probe(framed).height == size[0]
    gt = proto.load_for_eval(gt_video, P, box, size).frames[0].astype(float)
    err = {name: np.abs(proto.load_for_eval(v, P, box, size).frames[3].astype(float) - gt).mean()
           for name, v in (("registered", framed), ("resized", crops))}
    assert err["registered"] < 0.5 * err["resized"], err
