"""Preprocessing: pose and the normalized space, MFCC alignment, skip reasons, backends, the store."""
import csv
import shutil

import numpy as np
import pytest

from conftest import preprocess_config
from spacex import media, weights
from spacex.corpus import clip as clipfmt
from spacex.preprocess import audio as audiofeat
from spacex.preprocess import emotion, eyes, pose, run, store


def _gt(root):
    row = clipfmt.read_manifest(root)[0]
    return row, clipfmt.read_groundtruth(root, row["clip_id"])


def test_normalize_pose_round_trip(small_corpus):
    _, gt = _gt(small_corpus)
    L = gt["landmarks"].astype(np.float64)
    for smoothing in (0.0, 2.0):
        fit = pose.fit_pose(L, smoothing=smoothing)
        norm = pose.normalize(L, fit)
        assert np.abs(pose.pose(norm, fit) - L).max() < 1e-4
        np.testing.assert_allclose(np.linalg.norm(norm[:, 16] - norm[:, 0], axis=-1), 1.0, atol=1e-9)
        np.testing.assert_allclose((norm[:, 0] + norm[:, 16]) / 2, 0.0, atol=1e-9)


def test_normalized_space_removes_pose(small_corpus):
    """Normalizing the posed ground truth recovers the generator's frontal landmarks."""
    _, gt = _gt(small_corpus)
    norm = pose.normalize(gt["landmarks"].astype(np.float64), pose.fit_pose(gt["landmarks"].astype(np.float64)))
    assert np.abs(norm - gt["landmarks_norm"])[..., :2].mean() < 0.01  # in units of the ear distance


@pytest.mark.parametrize("yaw", [-20.0, 15.0, 30.0])
def test_known_yaw_is_recovered(small_corpus, yaw):
    _, gt = _gt(small_corpus)
    L = gt["landmarks"].astype(np.float64)
    base = pose.fit_pose(L)
    turned = pose.Pose(base.rotation + [yaw, 0, 0], base.translation, base.scale)
    L2 = pose.pose(pose.normalize(L, base), turned)  # the same faces, turned by `yaw` more
    for lifted in (False, True):  # 3D landmarks, and 2D landmarks lifted as the dlib backend does
        src = pose.lift_to_3d(L2[..., :2]) if lifted else L2
        est = pose.fit_pose(src).rotation[:, 0]
        assert np.abs(est - (gt["rotation"][:, 0] + yaw)).mean() < 3.0, (yaw, lifted)


def test_dlib_backend_accuracy_on_synthtalk(small_store):
    out, summary = small_store
    assert summary["clips"] == 5 and summary["skipped"] == 0
    assert summary["nme"] < 0.05  # inter-ocular normalized; measured 0.026 on the default corpus
    assert summary["nme_mouth"] < 0.07
    assert summary["pose_error_deg"]["yaw"] < 4.0 and summary["pose_error_deg"]["roll"] < 2.0


def test_mfcc_frames_equal_video_frames(small_corpus, small_store):
    out, _ = small_store
    manifest = store.read_manifest(out)
    for c in manifest["clips"]:
        arr = store.read_clip(out, c["clip_id"])
        n_video = media.probe(clipfmt.clip_paths(small_corpus, c["clip_id"])["video"]).n_frames
        assert arr["mfcc"].shape == (n_video, 40)
        assert len(arr["landmarks"]) == len(arr["eye_openness"]) == len(arr["rotation"]) == n_video
        assert len(arr["audio"]) == round(n_video / 30 * 16000)


@pytest.mark.parametrize("sr,fps", [(16000, 30), (16000, 25), (22050, 29.97), (48000, 30)])
def test_mfcc_count_matches_for_any_rate(sr, fps):
    n = 57
    audio = np.random.default_rng(0).normal(0, 0.1, int(n / fps * sr) + 13).astype(np.float32)
    assert audiofeat.mfcc_per_frame(audio, sr, fps, n).shape == (n, 40)


def test_mfcc_follows_the_audio_in_time():
    """A burst in frame k changes MFCC frame k most: features are centred on their frames."""
    sr, fps, n = 16000, 30, 30
    audio = np.zeros(n * sr // fps, np.float32)
    k = 17
    s = int(k * sr / fps)
    audio[s:s + sr // fps] = np.random.default_rng(1).normal(0, 0.3, sr // fps)
    m = audiofeat.mfcc_per_frame(audio, sr, fps, n)
    assert int(np.argmax(m[:, 0])) == k


def _add_clip(root, clip_id, frames, audio, sr=48000, fps=30):
    media.write_video(clipfmt.clip_paths(root, clip_id)["video"], frames, fps, audio, sr)
    clipfmt.write_meta(root, clipfmt.ClipMeta(clip_id, "train", "test", "s", "i", "neutral", 1.0, len(frames),
                                              fps, sr, frames.shape[2], frames.shape[1]))


def test_bad_clips_are_skipped_with_reasons(small_corpus, tmp_path):
    root = tmp_path / "corpus"
    shutil.copytree(small_corpus, root)
    row = clipfmt.read_manifest(root)[0]
    frames, _ = media.read_frames(clipfmt.clip_paths(root, row["clip_id"])["video"])
    audio, sr = media.read_audio(clipfmt.clip_paths(root, row["clip_id"])["video"])
    rng = np.random.default_rng(0)
    _add_clip(root, "noface", rng.integers(90, 110, frames.shape, dtype=np.uint8), audio, sr)
    _add_clip(root, "twofaces", np.concatenate([frames, frames[:, :, ::-1]], 2), audio, sr)
    _add_clip(root, "silent", frames, np.zeros_like(audio), sr)
    _add_clip(root, "truncated", frames, audio, sr)
    p = clipfmt.clip_paths(root, "truncated")["video"]
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    metas = [clipfmt.read_meta(root, r["clip_id"]) for r in clipfmt.read_manifest(root)]
    metas += [clipfmt.read_meta(root, c) for c in ("noface", "twofaces", "silent", "truncated")]
    clipfmt.write_manifest(root, metas)

    summary = run.run(preprocess_config(root, tmp_path / "store"), progress=False)
    assert summary["clips"] == 5 and summary["skipped"] == 4
    with open(tmp_path / "store" / "skipped.csv", newline="") as f:
        reasons = {r["clip_id"]: r["reason"] for r in csv.DictReader(f)}
    assert reasons["noface"].startswith("no face")
    assert reasons["twofaces"].startswith("several faces")
    assert "silent audio" in reasons["silent"]
    assert reasons["truncated"].startswith("truncated: decoded")


def test_reruns_are_idempotent_and_partial_clips_are_redone(small_corpus, small_store, tmp_path):
    out = tmp_path / "store"
    shutil.copytree(small_store[0], out)
    cfg = preprocess_config(small_corpus, out)
    assert run.run(cfg, progress=False)["processed_now"] == 0
    victim = store.read_manifest(out)["clips"][0]["clip_id"]
    store.paths(out, victim)["meta"].unlink()  # as if killed after the arrays, before the marker
    again = run.run(cfg, progress=False)
    assert again["processed_now"] == 1 and again["clips"] == 5


def test_shards_fill_one_store(small_corpus, small_store, tmp_path):
    out = tmp_path / "store"
    cfg = preprocess_config(small_corpus, out)
    for i in range(2):
        run.run(cfg, shard=(i, 2), progress=False)
    manifest = store.index(out, run.run_info(cfg))
    assert len(manifest["clips"]) == 5
    for c in manifest["clips"]:
        a, b = store.read_clip(out, c["clip_id"]), store.read_clip(small_store[0], c["clip_id"])
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    # byte for byte, metadata included (no wall-clock figures): DVC hashes the store, and stage train_fv2v, whose
    # result lives in the DVC remote, is skipped only while that hash repeats
    files = sorted(p.relative_to(out) for p in (out / "clips").iterdir())
    assert files == sorted(p.relative_to(small_store[0]) for p in (small_store[0] / "clips").iterdir())
    for f in files:
        assert (out / f).read_bytes() == (small_store[0] / f).read_bytes(), f


def test_groundtruth_backend_and_blinks(small_corpus, tmp_path):
    out = tmp_path / "store"
    summary = run.run(preprocess_config(small_corpus, out, backend="groundtruth"), progress=False)
    assert summary["nme"] == 0.0
    hits = total = 0
    for c in store.read_manifest(out)["clips"]:
        truth = clipfmt.read_meta(small_corpus, c["clip_id"]).extra["blinks"]
        found = store.read_meta(out, c["clip_id"])["blinks"]
        for s, e in truth:
            if e < clipfmt.read_meta(small_corpus, c["clip_id"]).duration:
                total += 1
                hits += any(fs < e and fe > s for fs, fe in found)
    assert total > 0 and hits == total


def test_face_alignment_backend_says_what_is_missing(small_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_cache"))
    with pytest.raises(weights.MissingWeights) as e:
        run.run(preprocess_config(small_corpus, tmp_path / "store", backend="face_alignment"), progress=False)
    msg = str(e.value)
    assert "3DFAN4-7835d9f11d.pth.tar" in msg and "depth-2a464da4ea.pth.tar" in msg
    assert "spacex weights fetch fan3d" in msg and str(tmp_path / "empty_cache") in msg


def test_face_alignment_backend_batches_frames_as_the_library_does_one_by_one():
    """The batched FAN path (frames `batch` at a time) gives face-alignment's own per-image landmarks."""
    import torch
    from face_alignment.models import FAN, ResNetDepth

    from spacex.preprocess.backends import ClipInput, FaceAlignmentBackend
    from spacex.preprocess.detect import FaceTrack

    torch.manual_seed(0)
    backend = FaceAlignmentBackend("cpu", batch=2, nets=(FAN(1), ResNetDepth()))  # random weights: a code check
    frames = np.random.default_rng(0).integers(0, 255, (3, 160, 160, 3), dtype=np.uint8)
    boxes = np.array([[30, 35, 120, 130], [32, 36, 122, 131], [28, 30, 118, 126]], float)
    ours = backend(ClipInput("c", None, frames, FaceTrack(np.r_[0, 0, 160, 160.0], boxes, 90.0)))
    ref = np.stack([backend.fa.get_landmarks_from_image(f, detected_faces=[b])[0] for f, b in zip(frames, boxes)])
    ref[..., 2] -= ref[:, [0, 16], 2].mean(1, keepdims=True)
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    assert np.ptp(ours[..., 2]) > 0  # the depth net's output reached the result


def test_device_resolution():
    import torch

    from spacex import devices
    from spacex.errors import ConfigError

    assert devices.resolve("cpu") == torch.device("cpu")
    assert devices.resolve("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="choose auto, cpu, cuda"):
        devices.resolve("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="sees no GPU"):
            devices.resolve("cuda:0")


def test_store_identity_leaves_out_the_device_not_the_batch(small_corpus, tmp_path):
    cfg = preprocess_config(small_corpus, tmp_path / "store")
    other = preprocess_config(small_corpus, tmp_path / "store")
    other.preprocess.device = "cuda:3"
    assert run.run_info(cfg)["config_hash"] == run.run_info(other)["config_hash"]
    other.preprocess.detect_batch = 4
    assert run.run_info(cfg)["config_hash"] != run.run_info(other)["config_hash"]


def test_detection_batches_agree(small_corpus):
    """MTCNN in passes of 2 frames finds the boxes one pass of all frames finds."""
    from spacex.preprocess.detect import detect_faces

    frames, _ = media.read_frames(clipfmt.clip_paths(small_corpus, clipfmt.read_manifest(small_corpus)[0]["clip_id"])["video"])
    one, two = detect_faces(frames[:5], batch=5), detect_faces(frames[:5], batch=2)
    assert all(np.allclose(a[0], b[0], atol=1e-3) for a, b in zip(one, two)) and len(one[0][0])


def test_weights_checksum_is_enforced(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    w = weights.REGISTRY["alexnet"]
    w.path().parent.mkdir(parents=True)
    w.path().write_bytes(b"not the real weights")
    with pytest.raises(weights.MissingWeights, match="checksum mismatch"):
        weights.require("alexnet")


def test_augmentations_do_what_they_say():
    sr = 16000
    t = np.arange(sr) / sr
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    rng = np.random.default_rng(0)
    power = np.abs(np.fft.rfft(tone)) ** 2  # 1 Hz bins
    shifted = audiofeat.shift_pitch(power[None], 4.0)[0]
    assert abs(np.argmax(shifted) - 220 * 2 ** (4 / 12)) <= 1 and np.isclose(shifted.sum(), power.sum(), rtol=0.02)
    # the MFCCs of a pitch shift on the spectra are those of librosa's shift of the waveform, nearly
    import librosa

    voice = sum(0.1 / k * np.sin(2 * np.pi * 180 * k * t) for k in range(1, 12)).astype(np.float32)
    mf = lambda x, st=0.0: audiofeat.mfcc_per_frame(x, sr, 30, 20, semitones=st)[5:-5]  # noqa: E731
    wave = mf(librosa.effects.pitch_shift(voice, sr=sr, n_steps=3.0))
    assert np.abs(mf(voice, 3.0) - wave).mean() < 0.3 * np.abs(mf(voice) - wave).mean()
    draws = [audiofeat.Augment()(tone, sr, np.random.default_rng(k)) for k in range(40)]
    assert {st == 0.0 for _, st in draws} == {True, False} and all(abs(st) <= 2.0 for _, st in draws)
    louder = audiofeat.Loudness(6)(tone, sr, rng)
    gain_db = 20 * np.log10(np.abs(louder).max() / np.abs(tone).max())
    assert louder.shape == tone.shape and 0.1 < abs(gain_db) <= 6.0
    eq = audiofeat.Equalize()(np.random.default_rng(1).normal(0, 0.1, sr).astype(np.float32), sr, rng)
    assert eq.shape == (sr,) and np.isfinite(eq).all()


def test_emotion_vectors():
    v, known = emotion.vector("happy", 0.5)
    assert known and v[emotion.DEFAULT_EMOTIONS.index("happy")] == 0.5 and v.sum() == 0.5
    v, _ = emotion.vector("happy:0.7,surprise:0.3", None)
    assert v[1] == pytest.approx(0.7) and v[3] == pytest.approx(0.3)
    v, known = emotion.vector("", None)
    assert not known and v.sum() == 0
    assert emotion.vector("calm", 0.5)[0][0] == 0.5  # RAVDESS calm -> neutral
    with pytest.raises(ValueError, match="vocabulary"):
        emotion.vector("bored", 1.0)


def test_eye_openness_drops_in_blinks(small_corpus):
    row, gt = _gt(small_corpus)
    ear = eyes.openness(gt["landmarks_norm"])
    closed = gt["eye_closure"] > 0.9
    if closed.any():
        assert ear[closed].mean() < 0.5 * ear[gt["eye_closure"] == 0].mean()
