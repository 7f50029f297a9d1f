"""The comparison report: table (markdown + CSV), plots, side-by-side videos with sound, wandb, from fabricated
score.py outputs (three scored methods, one of them missing metrics, and one that could not run)."""
import csv
import json
import math

import numpy as np
import pytest

from spacex import media, tracking
from spacex.evaluate import report
from spacex.evaluate.report import build_report

PROTOCOL = {"fps": 25, "sample_rate": 16000, "crop_size": 32, "crop_margin": 0.25}
SR = 16000
COLOURS = {"spacex": (220, 30, 30), "ground_truth": (30, 200, 30), "static": (30, 30, 220)}
LENGTHS = {"spacex": 20, "ground_truth": 20, "static": 19}  # static is one frame short: trimmed to 19
METRICS = {
    "spacex": {"psnr": 27.51234, "ssim": 0.8123, "lpips": 0.1, "fid": 45.6789, "cpbd": 0.21, "lmd_mouth": 2.5,
               "lse_d": 7.9, "lse_c": 6.1, "av_corr": 0.45, "av_offset": 0.0, "blink_rate": 0.3, "yaw_std": 2.0,
               "jitter": 0.02},
    "ground_truth": {"psnr": "inf", "ssim": 1.0, "lpips": 0.0, "fid": 0.0, "cpbd": 0.25, "lmd_mouth": 0.0,
                     "lse_d": 6.5, "lse_c": 8.0, "av_corr": 0.6, "av_offset": 0.0, "blink_rate": 0.25,
                     "yaw_std": 3.0, "jitter": 0.01},
    # static: no SyncNet numbers
    "static": {"psnr": 21.0, "ssim": 0.7, "lpips": 0.3, "fid": 80.0, "cpbd": 0.2, "lmd_mouth": 4.0,
               "lse_d": None, "lse_c": None, "av_corr": 0.0, "av_offset": 0.0, "blink_rate": 0.0, "yaw_std": 0.0,
               "jitter": 0.0},
}
NOT_RUN = "Wav2Lip checkpoint not found: wav2lip_gan.pth"
NO_SYNCNET = "SyncNet v2 weights not in the weight cache"


def _tone(n_frames, f=440.0):
    t = np.arange(int(n_frames / 25 * SR)) / SR
    return (0.4 * np.sin(2 * np.pi * f * t)).astype(np.float32)


def fabricate(root):
    """score.py's outputs for spacex, ground_truth, static (scored) and wav2lip (unavailable)."""
    out, reports = root / "build" / "evaluate", root / "reports" / "evaluate"
    reports.mkdir(parents=True)
    for name, mets in METRICS.items():
        unavailable = {k: NO_SYNCNET for k in ("lse_d", "lse_c")} if name == "static" else {}
        skipped = [["c9", "no face in the ground truth"]] if name == "spacex" else []
        (reports / f"{name}.json").write_text(json.dumps({
            "method": name, "status": "ok", "clips": 3, "skipped": skipped, "protocol": PROTOCOL,
            "metrics": mets, "unavailable_metrics": unavailable}))
        d = out / name
        d.mkdir(parents=True)
        rng = np.random.default_rng(len(name))
        with open(d / "per_clip.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["clip_id", "frames", "offset", "psnr", "ssim", "lse_d"])
            for c in ("c0", "c1", "c2"):
                lse = "" if name == "static" else f"{7 + rng.random():.3f}"
                psnr = "inf" if name == "ground_truth" else f"{20 + 5 * rng.random():.3f}"
                w.writerow([c, 20, 0, psnr, f"{0.7 + 0.2 * rng.random():.3f}", lse])
        t = np.arange(20) / 25
        gt_mouth = 5 + 4 * np.sin(2 * np.pi * 2 * t)
        np.savez(d / "traces.npz", **{f"{c}/{k}": v for c in ("c0", "c1", "c2") for k, v in (
            ("mouth_gen", gt_mouth if name == "ground_truth" else gt_mouth * rng.random()),
            ("mouth_gt", gt_mouth), ("envelope", 0.1 * np.abs(np.sin(2 * np.pi * 2 * t))))})
        n = LENGTHS[name]
        frames = np.empty((n, 32, 32, 3), np.uint8)
        frames[:] = COLOURS[name]
        # only ground truth has sound: the side-by-side audio must come from it
        audio = _tone(n) if name == "ground_truth" else np.zeros(int(n / 25 * SR), np.float32)
        clips = ("c0", "c1", "c2") if name == "spacex" else ("c0", "c1")  # c2 is not common to all
        for c in clips:
            media.write_video(d / "eval" / f"{c}.mp4", frames, 25, audio, SR)
    (reports / "wav2lip.json").write_text(json.dumps({
        "method": "wav2lip", "status": "unavailable", "reason": NOT_RUN, "clips": 0, "skipped": [],
        "protocol": PROTOCOL, "metrics": {}, "unavailable_metrics": {}}))
    return out, reports


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return fabricate(tmp_path_factory.mktemp("report_inputs"))


def _isolated_wandb(mp, tmp):
    for var, sub in (("WANDB_CONFIG_DIR", "cfg"), ("WANDB_DATA_DIR", "data"), ("WANDB_CACHE_DIR", "cache")):
        mp.setenv(var, str(tmp / "wandb_home" / sub))
    mp.setenv("WANDB_SILENT", "true")


@pytest.fixture(scope="module")
def built(inputs, tmp_path_factory):
    """The report with WANDB_MODE=offline."""
    out, reports = inputs
    report_dir = tmp_path_factory.mktemp("report")
    runs = tmp_path_factory.mktemp("train")  # a run folder that recorded its wandb run, as training does
    (runs / "s2l").mkdir()
    (runs / "s2l" / "wandb_run.json").write_text(json.dumps({"id": "abc123", "project": "spacex-kit"}))
    with pytest.MonkeyPatch.context() as mp:
        _isolated_wandb(mp, report_dir.parent)
        mp.setenv("WANDB_MODE", "offline")
        summary = build_report(out, reports, report_dir, videos=2, training_runs_dir=runs)
    return report_dir, summary


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_table_csv_rows_columns_and_values(built):
    report_dir, summary = built
    header, *rows = _csv(report_dir / "table.csv")
    assert [r[0] for r in rows] == ["spacex", "ground_truth", "static"]  # wav2lip did not run: no row
    expected = [k for k in report.METRICS if any(METRICS[m].get(k) is not None for m in METRICS)]
    assert header == ["method", "clips"] + expected
    assert "lmd_face" not in header and "av_conf" not in header  # no method has them
    row = {r[0]: dict(zip(header, r)) for r in rows}
    assert float(row["spacex"]["psnr"]) == pytest.approx(27.51234)
    assert float(row["spacex"]["fid"]) == pytest.approx(45.6789)
    assert row["ground_truth"]["psnr"] == "inf"
    assert row["static"]["lse_d"] == "" and row["static"]["lse_c"] == ""
    assert float(row["static"]["lpips"]) == pytest.approx(0.3) and row["static"]["clips"] == "3"
    assert summary["methods"]["ok"] == ["spacex", "ground_truth", "static"]
    assert summary["methods"]["unavailable"] == {"wav2lip": NOT_RUN}
    assert summary["protocol"] == PROTOCOL


def test_markdown_arrows_inf_and_sections(built):
    md = (built[0] / "table.md").read_text()
    header = next(ln for ln in md.splitlines() if ln.startswith("| method"))
    for col in ("psnr ↑", "ssim ↑", "cpbd ↑", "lse_c ↑", "av_corr ↑", "lpips ↓", "fid ↓", "lmd_mouth ↓", "lse_d ↓",
                "jitter ↓"):
        assert col in header, col
    cells = [c.strip() for c in header.strip("|").split("|")]
    for col in ("av_offset", "blink_rate", "yaw_std"):  # no better direction: no arrow
        assert col in cells, col
    gt = next(ln for ln in md.splitlines() if ln.startswith("| ground_truth"))
    assert gt.split("|")[3].strip() == "∞"  # psnr column
    sx = next(ln for ln in md.splitlines() if ln.startswith("| spacex"))
    assert "27.512" in sx and "45.679" in sx  # 3 decimals
    # bold marks the best generated method; ground_truth and static are references, so nothing to compare here
    assert "**" not in sx + gt
    assert "## Not run" in md and f"**wav2lip**: {NOT_RUN}" in md
    assert "## Metrics not computed" in md
    assert md.count(NO_SYNCNET) == 2  # lse_d and lse_c, once each
    assert "32×32" in md and "25 fps" in md and "16000 Hz" in md and "not comparable" in md
    assert "c9" in md and "no face in the ground truth" in md  # skipped clip
    assert "## Ablation" not in md  # no ablation JSONs in this tree


def test_plots_are_valid_pngs(built):
    report_dir, summary = built
    import matplotlib.image as mpimg

    for name in ("metrics_bars.png", "per_clip_box.png", "traces.png"):
        p = report_dir / name
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        img = mpimg.imread(p)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
        assert img[..., :3].std() > 0.01  # something was drawn
        assert name in summary["files"]


def test_side_by_side_videos(built):
    report_dir, summary = built
    assert sorted(summary["videos"]) == ["c0", "c1"]  # c2 has no eval video for every method
    p = report_dir / "side_by_side" / "c0.mp4"
    info = media.probe(p)
    assert info.width == 3 * 32 and info.height > 32
    assert info.n_frames == 19 and info.fps == 25  # trimmed to the shortest
    assert info.has_audio and info.sample_rate == SR
    assert summary["videos"]["c0"]["frames"] == 19
    assert summary["videos"]["c0"]["panels"] == ["spacex", "ground_truth", "static"]
    frames, _ = media.read_frames(p)
    body = frames[5, -24:].astype(int)  # below the label strip
    for i, name in enumerate(["spacex", "ground_truth", "static"]):
        panel = body[:, i * 32 + 6:(i + 1) * 32 - 6].reshape(-1, 3).mean(0)
        assert np.abs(panel - COLOURS[name]).max() < 25, (name, panel)
    strip = frames[5, :8].astype(int)
    assert strip.max() > 200 and strip.min() < 80  # white text on dark grey
    audio, sr = media.read_audio(p, SR)
    assert abs(len(audio) / sr - 19 / 25) < 0.05
    ref = _tone(19)
    n = min(len(audio), len(ref))
    assert np.sqrt(np.mean(audio ** 2)) > 0.1  # the ground truth's tone, not the silent methods' audio
    lag = np.argmax(np.correlate(audio[2000:n - 2000], ref[2000:2400], "valid"))
    seg = audio[2000 + lag:2400 + lag]
    assert np.corrcoef(seg, ref[2000:2400])[0, 1] > 0.9


def test_wandb_offline_run_holds_the_table(built):
    report_dir, summary = built
    runs = list((report_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert summary["wandb"]["run_dir"] == str(runs[0]) and "error" not in summary["wandb"]
    assert list(runs[0].glob("run-*.wandb"))
    tables = list((runs[0] / "files").rglob("comparison_*.table.json"))
    assert len(tables) == 1
    scorecard = list((runs[0] / "files").rglob("claims_*.table.json"))
    assert len(scorecard) == 1 and json.loads(scorecard[0].read_text())["columns"][-2:] == ["verdict", "reason"]
    t = json.loads(tables[0].read_text())
    header, *rows = _csv(report_dir / "table.csv")
    assert t["columns"] == header
    assert [r[0] for r in t["data"]] == [r[0] for r in rows]
    psnr = header.index("psnr")
    assert t["data"][0][psnr] == pytest.approx(27.51234) and t["data"][1][psnr] == "inf"
    assert t["data"][2][header.index("lse_d")] is None
    media_files = {p.suffix for p in (runs[0] / "files" / "media").rglob("*") if p.is_file()}
    assert ".png" in media_files and ".mp4" in media_files
    config = tracking.offline_config(runs[0])
    assert config["training_runs"] == {"s2l": {"id": "abc123", "project": "spacex-kit"}}
    prov = config["provenance"]
    assert len(prov["git_commit"]) == 40 and isinstance(prov["git_dirty"], bool) and len(prov["dvc_lock_sha256"]) == 64


def test_given_order_missing_method_and_wandb_disabled(inputs, tmp_path, monkeypatch):
    out, reports = inputs
    _isolated_wandb(monkeypatch, tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    stale = media.write_video(tmp_path / "r" / "side_by_side" / "old.mp4", np.zeros((2, 32, 32, 3), np.uint8), 25)
    summary = build_report(out, reports, tmp_path / "r", methods=["static", "spacex", "makeittalk"], videos=1)
    assert not (tmp_path / "r" / "wandb").exists() and summary["wandb"]["run_dir"] is None
    assert [r[0] for r in _csv(tmp_path / "r" / "table.csv")[1:]] == ["static", "spacex"]
    assert "makeittalk" in summary["methods"]["unavailable"]
    assert "**makeittalk**: not scored" in (tmp_path / "r" / "table.md").read_text()
    assert list(summary["videos"]) == ["c0"] and summary["videos"]["c0"]["panels"] == ["static", "spacex"]
    assert media.probe(tmp_path / "r" / "side_by_side" / "c0.mp4").width == 64
    assert not stale.exists()  # an earlier report's video is not left to pass for this one's
    saved = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert saved["methods"] == summary["methods"] and "table.csv" in saved["files"]


def test_ablation_section(inputs, tmp_path):
    out, reports = inputs
    root = tmp_path / "reports"
    (root / "ablation").mkdir(parents=True)
    (root / "train_s2l").mkdir()
    (root / "train_s2l" / "metrics.json").write_text(json.dumps({"mouth_lmd": 0.0199, "face_lmd": 0.01673}))
    (root / "ablation" / "no_emotion.json").write_text(json.dumps(
        {"variant": "no_emotion", "stage": "s2l", "overrides": {"s2l.emotion": False},
         "metrics": {"mouth_lmd": 0.0251, "face_lmd": 0.0180}}))
    summary = build_report(out, reports, tmp_path / "r", videos=0, wandb_project=None,
                           ablation_dir=root / "ablation")
    header, *rows = _csv(tmp_path / "r" / "ablation.csv")
    assert header == ["stage", "variant", "overrides", "mouth_lmd", "face_lmd"]
    assert [r[:3] for r in rows] == [["s2l", "full", ""], ["s2l", "no_emotion", "s2l.emotion=False"]]
    assert float(rows[1][3]) == pytest.approx(0.0251)
    md = (tmp_path / "r" / "table.md").read_text()
    assert "## Ablation" in md and "no_emotion" in md and "0.0251" in md
    assert summary["videos"] == {} and "ablation.csv" in summary["files"]


def test_best_generated_method_in_bold():
    def m(name, **mets):
        return {"method": name, "clips": 1, "metrics": mets, "unavailable_metrics": {}, "skipped": []}

    ok = [m("spacex", psnr=27.0, lse_d=7.5, blink_rate=0.3), m("ground_truth", psnr=math.inf, lse_d=6.0,
                                                                 blink_rate=0.2),
          m("wav2lip", psnr=25.0, lse_d=7.0, blink_rate=0.1)]
    md = report.markdown(ok, [], ["psnr", "lse_d", "blink_rate"], PROTOCOL)
    rows = {ln.split("|")[1].strip(): ln for ln in md.splitlines() if ln.startswith("| ") and "method" not in ln}
    assert "**27.000**" in rows["spacex"] and "**7.000**" in rows["wav2lip"]  # higher psnr, lower lse_d
    assert "**" not in rows["ground_truth"] and "**0.100**" not in rows["wav2lip"]  # no direction: no bold


@pytest.mark.parametrize("v, s", [(27.51234, "27.512"), (0.00123456, "0.00123"), (12345.678, "12345.7"), (0.1, "0.100"), (0.0199, "0.0199"), (0.8123, "0.812"),
                                  (math.inf, "∞"), (math.nan, "–"), (0.0, "0"), (-1.0, "-1.000")])
def test_number_format(v, s):
    assert report.fmt(v) == s


def test_bootstrap_interval_covers_the_mean_and_repeats():
    v = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    lo, hi = report.bootstrap_interval(v)
    assert lo < 2.5 < hi and (lo, hi) == report.bootstrap_interval(v)  # seeded
    assert 1.0 <= lo and hi <= 4.0 and report.bootstrap_interval([3.0]) is None
    narrow = report.bootstrap_interval(np.r_[v[:4], v[:4], v[:4], v[:4]])
    assert narrow[1] - narrow[0] < hi - lo  # more clips, tighter interval


def test_scorecard_verdicts_come_from_the_intervals():
    from spacex.evaluate.report import claims

    ids = [f"c{i}" for i in range(8)]
    rng = np.random.default_rng(0)
    base = rng.uniform(1, 2, 8)
    per_clip = {"static": {"lmd_mouth": base}, "better": {"lmd_mouth": base - 0.5 + 0.05 * rng.standard_normal(8)},
                "noisy": {"lmd_mouth": base + rng.standard_normal(8)}, "worse": {"lmd_mouth": base + 0.5}}
    order = {k: list(ids) for k in per_clip}
    order["better"] = ids[::-1]  # pairing goes by clip id, not by position
    per_clip["better"]["lmd_mouth"] = per_clip["better"]["lmd_mouth"][::-1]
    v = {m: claims.compare("x", per_clip, order, m, "static", "lmd_mouth", True) for m in ("better", "noisy", "worse")}
    assert v["better"].verdict == claims.HOLDS and v["better"].effect == pytest.approx(-0.5, abs=0.05)
    assert v["better"].interval[1] < 0 and v["better"].n == 8
    assert v["noisy"].verdict == claims.FAILS and "includes zero" in v["noisy"].reason
    assert v["worse"].verdict == claims.FAILS and "worse" in v["worse"].reason
    missing = claims.compare("x", per_clip, order, "wav2lip", "static", "lmd_mouth", True)
    assert missing.verdict == claims.UNMEASURED and "wav2lip not scored" in missing.reason
    # stable across machines: the interval's bound nearest zero is further from it than the stated tolerance
    assert v["better"].margin == pytest.approx(-v["better"].interval[1]) and v["better"].stable is True
    per_clip["barely"] = {"lmd_mouth": base - 0.05 + 0.001 * rng.standard_normal(8)}
    order["barely"] = list(ids)
    barely = claims.compare("x", per_clip, order, "barely", "static", "lmd_mouth", True)
    assert barely.verdict == claims.HOLDS and barely.margin < claims.TOLERANCE["lmd_mouth"] and barely.stable is False


def test_blink_rows_are_ratios_to_the_ground_truth():
    """The renderer's blink depth holds within 50% of the ground truth's: eyes that never close (depth about 0)
    do not hold, eyes that close 0.7 as far do; a missing depth is not measurable."""
    from spacex.evaluate.report import claims

    def depth(renderer):
        metrics = {"ground_truth": {"blink_depth": 0.28}, "renderer": {"blink_depth": renderer}}
        return claims.relative("x", metrics, "renderer", "ground_truth", "blink_depth", 0.5)

    shut, open_ = depth(0.2), depth(-0.01)
    assert shut.verdict == claims.HOLDS and shut.effect == pytest.approx(0.2 / 0.28)
    assert shut.margin == pytest.approx(0.5 - (1 - 0.2 / 0.28)) and shut.stable is True
    assert open_.verdict == claims.FAILS and open_.effect < 0
    assert depth(float("nan")).verdict == claims.UNMEASURED


def test_ablation_rows_use_the_seed_sweep_only_when_it_matches_this_run():
    """With reports/seeds (tools/seeds.py) the ablation row's effect is the mean per-seed difference, its interval
    the range, and it holds only when every seed agrees; a sweep whose seed 0 is not this run's is ignored."""
    from spacex.evaluate.report import claims

    ablation = (["stage", "variant", "kp_l1"], [["l2l", "full", "0.006"], ["l2l", "l2l_landmarks", "0.0059"]])
    one = claims.ablation_claim("x", ablation, "l2l", "full", "l2l_landmarks", "kp_l1")
    assert one.verdict == claims.FAILS and one.seeds == "0" and one.interval is None

    def sweep(full, landmarks):
        return {"commit": "abc", "seeds": [0, 1, 2], "values": {"l2l/full/kp_l1": full,
                                                               "l2l/l2l_landmarks/kp_l1": landmarks}}

    agree = claims.ablation_claim("x", ablation, "l2l", "full", "l2l_landmarks", "kp_l1",
                                  sweep([0.006, 0.005, 0.0055], [0.0059, 0.0062, 0.0065]))
    assert agree.seeds == "0, 1, 2" and agree.verdict == claims.FAILS  # seed 0 disagrees
    assert agree.effect == pytest.approx((0.0001 - 0.0012 - 0.001) / 3) and agree.interval == pytest.approx((-0.0012, 0.0001))
    ablation[1][0][2] = "0.0058"
    every = claims.ablation_claim("x", ablation, "l2l", "full", "l2l_landmarks", "kp_l1",
                                  sweep([0.0058, 0.005, 0.0055], [0.0059, 0.0062, 0.0065]))
    assert every.verdict == claims.HOLDS and every.margin == pytest.approx(0.0001) and "3 training seeds" in every.reason
    stale = claims.ablation_claim("x", ablation, "l2l", "full", "l2l_landmarks", "kp_l1",
                                  sweep([0.007, 0.005, 0.0055], [0.0059, 0.0062, 0.0065]))
    assert stale.seeds == "0" and stale.interval is None  # its seed 0 is another run's


def test_emotion_row_holds_only_when_every_trained_emotion_grows():
    from spacex.evaluate.report import claims

    grows = {"rho": [1.0] * 6, "monotonic": [True] * 6}
    flat = {"rho": [0.8, -0.8, 0.4, -0.4, 1.0, -1.0], "monotonic": [True, False, False, False, True, False]}
    response = {"levels": [0.25, 0.5, 0.75, 1.0], "reference": "neutral:1.0", "untrained": ["contempt"],
                "per_clip": {"happy": grows, "sad": grows}}
    row = claims.emotion_claim(response)
    assert row.verdict == claims.HOLDS and row.effect == 1.0 and row.n == 6 and "contempt" in row.reason
    response["per_clip"]["sad"] = flat
    row = claims.emotion_claim(response)
    assert row.verdict == claims.FAILS and "weakest: sad" in row.reason and row.interval[0] <= 0
    assert claims.emotion_claim(None).verdict == claims.UNMEASURED
    assert claims.emotion_claim({"per_clip": {}, "skipped": [["c1", "photo: no face"]]}).reason == \
        "no clip measured: c1: photo: no face"
    rises_unevenly = {"rho": [0.8] * 6, "monotonic": [False] * 5 + [True]}  # rho > 0, but steps that fall back
    assert claims.emotion_claim({"per_clip": {"happy": grows, "sad": rises_unevenly}}).verdict == claims.FAILS


def test_report_writes_the_scorecard(built):
    """build_report writes claims.md/json from the per-clip files: the fabricated ones have no LMD column, so the
    first claim is 'not measurable here' and says why; a baseline that did not run is named."""
    report_dir, summary = built
    rows = json.loads((report_dir / "claims.json").read_text())
    first = rows[0]
    assert first["comparison"] == "spacex - static" and first["verdict"] == "not measurable here", first
    assert "lmd_mouth not available" in first["reason"]
    wav2lip = next(r for r in rows if r["comparison"] == "spacex - wav2lip")
    assert wav2lip["verdict"] == "not measurable here"
    assert "claims.md" in summary["files"] and "| SPACEx beats a still photo (mouth) |" in (report_dir / "claims.md").read_text()


def test_compare_reports_checks_its_folders_and_agrees_with_itself(tmp_path):
    """tools/compare_reports.py: the committed reports against themselves agree on every verdict; a folder that is
    not a checkout's root is a one-line error (exit 2), not a traceback."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    tool = [sys.executable, str(root / "tools/compare_reports.py")]
    same = subprocess.run(tool + [str(root), str(root)], capture_output=True, text=True)
    assert same.returncode == 0 and "0 verdict(s) disagree" in same.stdout, same.stderr
    bad = subprocess.run(tool + [str(root / "reports"), str(root)], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "claims.json" in bad.stderr
