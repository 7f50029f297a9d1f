"""The evaluation protocol: frame-rate conversion, the ground-truth crop box, loading, and frame alignment."""
import numpy as np
import pytest

from spacex import media
from spacex.corpus import clip as clipfmt
from spacex.evaluate.protocol import (MediaError, Protocol, align, estimate_offset, gt_box, load_for_eval,
                                      reference_box)
from standins._common import decode_index, encode_index

PROTOCOL = Protocol()


def _tone(seconds, sr):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


@pytest.fixture(scope="module")
def clip(small_corpus):
    row = next(r for r in clipfmt.read_manifest(small_corpus) if r["split"] == "test")
    return small_corpus, row["clip_id"], clipfmt.clip_paths(small_corpus, row["clip_id"])["video"]


@pytest.fixture(scope="module")
def gt(clip):
    _, _, video = clip
    box, size = gt_box(video, PROTOCOL)
    return box, size, load_for_eval(video, PROTOCOL, box, size)


@pytest.mark.parametrize("fps, n_in, n_out", [(30, 60, 50), (62.5, 100, 40)])
def test_frame_rate_conversion_by_nearest_time(tmp_path, fps, n_in, n_out):
    rng = np.random.default_rng(0)
    base = rng.integers(60, 200, (128, 128, 3), dtype=np.uint8)
    frames = np.stack([encode_index(base, i) for i in range(n_in)])
    p = media.write_video(tmp_path / "in.mp4", frames, fps, _tone(n_in / fps, 48000), 48000)
    ev = load_for_eval(p, PROTOCOL, None)
    assert ev.frames.shape == (n_out, 128, 128, 3) and ev.fps == 25
    got = [decode_index(f) for f in ev.frames]
    for k, i in enumerate(got):  # the source frame shown at k / 25 is the one nearest in time (ties: earlier)
        assert abs(i / fps - k / 25) <= 0.5 / fps + 1e-9
        assert abs((i + 1) / fps - k / 25) > 0.5 / fps - 1e-9 or i + 1 == n_in
    assert got == [int(np.floor(k * fps / 25 + 0.5 - 1e-9)) for k in range(n_out)]
    assert ev.sample_rate == 16000 and ev.audio.ndim == 1 and abs(len(ev.audio) / 16000 - n_in / fps) < 1 / 25


def test_reference_box_contains_the_face(clip, gt):
    root, clip_id, video = clip
    box, size, _ = gt
    x0, y0, x1, y1 = box
    assert x1 - x0 == y1 - y0 and 0 <= x0 and 0 <= y0 and x1 <= size[1] and y1 <= size[0]
    lm = clipfmt.read_groundtruth(root, clip_id)["landmarks"][..., :2]  # (T, 68, 2) true face points, pixels
    assert (lm[..., 0] >= x0).all() and (lm[..., 0] <= x1).all() and (lm[..., 1] >= y0).all() and (lm[..., 1] <= y1).all()
    extent = (lm.max(1) - lm.min(1)).max()
    assert x1 - x0 < 2.5 * extent  # a face crop, not the whole frame
    frames, _ = media.read_frames(video)
    assert reference_box(frames) == box  # from frames or from the file: the same box


def test_same_box_for_a_method_at_another_resolution(tmp_path, clip, gt):
    """A method that renders at twice the size is resized to the GT size first, then cut with the GT box."""
    _, _, video = clip
    box, size, ref = gt
    frames, fps = media.read_frames(video)
    audio, sr = media.read_audio(video)
    big = np.repeat(np.repeat(frames, 2, axis=1), 2, axis=2)  # (T, 2H, 2W, 3)
    p = media.write_video(tmp_path / "big.mp4", big, fps, audio, sr)
    ev = load_for_eval(p, PROTOCOL, box, size)
    assert ev.frames.shape == ref.frames.shape
    assert np.abs(ev.frames.astype(int) - ref.frames).mean() < 4
    assert any("resized 256x256 -> 128x128" in n for n in ev.notes)


def test_load_for_eval_audio_is_16k_mono(clip, gt, tmp_path):
    _, _, video = clip
    box, size, ev = gt
    info = media.probe(video)
    assert info.sample_rate == 48000
    assert ev.sample_rate == 16000 and ev.audio.dtype == np.float32 and ev.audio.ndim == 1
    assert abs(len(ev.audio) / 16000 - info.audio_duration) < 1 / 25
    assert ev.frames.shape[1:] == (128, 128, 3) and abs(ev.duration - info.video_duration) < 1 / 25
    # a frame-only video (PC-AVS) takes its audio from a separate file
    frames, fps = media.read_frames(video)
    silent = media.write_video(tmp_path / "silent.mp4", frames, fps)
    with pytest.raises(MediaError, match="no audio stream"):
        load_for_eval(silent, PROTOCOL, box, size)
    wav = media.write_wav(tmp_path / "speech.wav", *media.read_audio(video))
    ev2 = load_for_eval(silent, PROTOCOL, box, size, audio_path=wav)
    assert abs(len(ev2.audio) - len(ev.audio)) < 160 and ev2.frames.shape == ev.frames.shape


def test_unreadable_and_truncated_files(tmp_path, clip):
    _, _, video = clip
    data = video.read_bytes()
    (tmp_path / "half.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.mp4").write_bytes(b"this is not an mp4")
    with pytest.raises(MediaError, match="truncated"):
        load_for_eval(tmp_path / "half.mp4", PROTOCOL, None)
    with pytest.raises(MediaError, match="junk.mp4.*not a readable media file"):
        load_for_eval(tmp_path / "junk.mp4", PROTOCOL, None)
    with pytest.raises(MediaError, match="no such file"):
        load_for_eval(tmp_path / "missing.mp4", PROTOCOL, None)


@pytest.mark.parametrize("k", [-3, 0, 2, 4])
def test_estimate_offset_recovers_a_known_shift(gt, k):
    """gen frame j = GT frame j + k, rendered differently (contrast, colour cast, blur, noise)."""
    gt_frames = gt[2].frames  # (T, 128, 128, 3)
    idx = np.clip(np.arange(len(gt_frames) - 3) + k, 0, len(gt_frames) - 1)
    gen = gt_frames[idx].astype(np.float32)
    gen = (gen[:, :-1] + gen[:, 1:]) / 2  # a little blur
    gen = np.pad(gen, ((0, 0), (0, 1), (0, 0), (0, 0)), mode="edge")
    gen = gen * 0.8 + np.array([25, 10, 0]) + np.random.default_rng(k + 5).normal(0, 3, gen.shape)
    gen = np.clip(gen, 0, 255).astype(np.uint8)
    assert estimate_offset(gen, gt_frames, max_shift=5) == k


def test_align_pairs_frames_and_trims():
    gen, gt = np.arange(10), np.arange(100, 112)
    a, b = align(gen, gt, 2)  # generated j matches GT j + 2
    assert len(a) == len(b) == 10 and (b - a == 102).all()
    a, b = align(gen, gt, -3)
    assert len(a) == len(b) == 7 and (a[0], b[0]) == (3, 100)
