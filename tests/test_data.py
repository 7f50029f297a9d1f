"""The training data path: the store's pack (memory-mapped shards), lazy readers, the DataLoader's batches."""
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from spacex import config, media
from spacex.corpus import clip as clipfmt
from spacex.crop import crop_frames
from spacex.preprocess import pack, store
from spacex.preprocess.packed import Packed
from spacex.train.loader import loader, step_generator


def _cfg(store_dir, **sets):
    return config.load("smoke", overrides={"preprocess.out": str(store_dir), "pack.out": str(store_dir / "packed"),
                                           **sets})


def test_pack_holds_the_stores_arrays_and_the_cropped_frames(small_corpus, small_store):
    store_dir, _ = small_store
    p = Packed(store_dir / "packed")
    assert p.index["sizes"] == [32, 128]
    manifest = store.read_manifest(store_dir)
    assert [c["clip_id"] for c in p.index["clips"]] == [c["clip_id"] for c in manifest["clips"]]
    for c in p.index["clips"]:
        arr = store.read_clip(store_dir, c["clip_id"])
        for key in store.STORE_ARRAYS:
            np.testing.assert_array_equal(p.get(c, key), arr[key], err_msg=key)
        video, _ = media.read_frames(clipfmt.clip_paths(small_corpus, c["clip_id"])["video"])
        for size in (32, 128):
            np.testing.assert_array_equal(p.frames(c, size), crop_frames(video, arr["crop_box"], size).numpy())
        np.testing.assert_array_equal(p.get(c, "mfcc", [3, 1]), arr["mfcc"][[3, 1]])
    train = np.concatenate([store.read_clip(store_dir, c["clip_id"])["mfcc"] for c in p.clips("train")]).astype(np.float64)
    mean, std = p.mfcc_stats("train")
    np.testing.assert_allclose(mean, train.mean(0), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(std, train.std(0) + 1e-5, rtol=1e-4)
    with pytest.raises(FileNotFoundError, match="32 px, 128 px"):
        p.frames(p.index["clips"][0], 64, [0])


def test_pack_shards_are_rewritten_only_when_stale_and_read_the_same(small_corpus, small_store, tmp_path):
    store_dir, _ = small_store
    copy = tmp_path / "store"
    shutil.copytree(store_dir, copy)
    shutil.rmtree(copy / "packed")
    n_frames = [c["n_frames"] for c in store.read_manifest(copy)["clips"]]
    limit = n_frames[0] + n_frames[1]  # two clips per shard
    out = copy / "packed"
    pack.write(copy, {str(small_corpus): 1.0}, out, [32], shard_frames=limit, shard=(1, 2), index=False)  # a scheduler's job 1/2
    assert not (out / "index.json").exists() and (out / "shard-00001").exists() and not (out / "shard-00000").exists()
    idx = pack.write(copy, {str(small_corpus): 1.0}, out, [32], shard_frames=limit)  # the rest, then the index
    assert len(idx["shards"]) == len(pack.plan_shards(store.read_manifest(copy)["clips"], limit)) > 1
    done = out / "shard-00001" / "shard.json"
    before = done.stat().st_mtime_ns
    pack.write(copy, {str(small_corpus): 1.0}, out, [32], shard_frames=limit)
    assert done.stat().st_mtime_ns == before  # complete and current: kept
    one, many = Packed(store_dir / "packed"), Packed(out)
    for a, b in zip(one.index["clips"], many.index["clips"]):
        np.testing.assert_array_equal(one.frames(a, 32), many.frames(b, 32))
        np.testing.assert_array_equal(one.get(a, "audio"), many.get(b, "audio"))
        np.testing.assert_array_equal(one.get(a, "emotion"), many.get(b, "emotion"))
    for a, b in zip(one.mfcc_stats("train"), many.mfcc_stats("train")):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    manifest = store.read_manifest(copy)
    manifest["clips"] = manifest["clips"][1:]  # the store changed after packing
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FileNotFoundError, match="stale"):
        Packed(out)
    with pytest.raises(IndexError, match="outside"):
        one.get(one.index["clips"][0], "mfcc", [one.index["clips"][0]["n_frames"]])


def test_readers_hold_the_index_not_the_data(small_store):
    """What a worker receives is the reader's index, whatever the corpus size: arrays stay on disk until read."""
    from spacex.train import fv2v, s2l

    store_dir, _ = small_store
    task = fv2v.FV2VTask(_cfg(store_dir, **{"fv2v.model.resolution": 32}))
    frames_bytes = sum(c["n_frames"] for c in task.train_data.clips) * 3 * 32 * 32
    assert len(pickle.dumps(task.train_data)) < frames_bytes / 4
    data = s2l.S2LData(store_dir / "packed", "train", "normalized")
    assert not data.pack._maps  # nothing opened before it is read
    assert data.landmarks(data.clips[0], [0, 2]).shape == (2, 68, 3)
    assert all(isinstance(m, np.memmap) for m in data.pack._maps.values())


def test_augmented_windows_are_the_stores_mfccs_when_the_augmentation_is_the_identity(small_store, monkeypatch):
    """On-the-fly MFCCs of a window read exactly the samples the store's whole-clip MFCCs read for those frames."""
    from spacex.preprocess import audio as audiofeat
    from spacex.train.sequences import SequenceData

    store_dir, _ = small_store
    data = SequenceData(store_dir / "packed", "train")
    c = data.clips[0]
    rows = np.minimum(np.arange(5, 5 + 24), c["n_frames"] - 1)
    augmented = data.mfcc(c, rows, seed=7)
    assert np.abs(augmented - data.mfcc(c, rows)).max() > 1e-2  # an augmentation changes them
    np.testing.assert_array_equal(data.mfcc(c, rows, seed=7), augmented)  # a pure function of the seed
    monkeypatch.setattr(audiofeat, "default_augmentation", lambda: (lambda x, sr, rng: (x, 0.0)))
    first = np.arange(0, 10)  # the window at the clip's start reads samples before it as 0, as the store did
    for r in (rows, first):
        # the store's MFCCs come from the float audio, these from its int16 PCM: 0.03 apart near silence
        window = data.mfcc(c, r, seed=7)
        np.testing.assert_allclose(window, data.mfcc(c, r), rtol=0.01, atol=0.1)
        assert np.abs(window - data.mfcc(c, r + 1)).max() > 1.0  # one frame off would show


@pytest.mark.parametrize("stage", ["s2l", "posegen", "fv2v"])
def test_batches_do_not_depend_on_workers_ranks_or_the_start_step(small_store, stage):
    """A batch is a function of (seed, step): 2 workers give the batches of the training process, two ranks' halves
    make the global batch, and a loader started at step 3 (a resumed run) gives the same step 3."""
    from spacex.train.fv2v import FV2VTask
    from spacex.train.posegen import PoseGenTask
    from spacex.train.s2l import S2LTask

    store_dir, _ = small_store
    sets = {"s2l.window": 24, "s2l.audio_augment": 0.5, "posegen.window": 24, "posegen.audio_augment": 0.5,
            "fv2v.model.resolution": 32, f"{stage}.train.batch_size": 4}
    task = {"s2l": S2LTask, "posegen": PoseGenTask, "fv2v": FV2VTask}[stage](_cfg(store_dir, **sets))

    def same(a, b):
        assert a.keys() == b.keys()
        for k in a:
            if torch.is_tensor(a[k]):
                torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
            else:
                assert a[k] == b[k]

    inline = list(loader(task, 0, 0, 5, 0, 1, workers=0))
    for a, b in zip(inline, loader(task, 0, 0, 5, 0, 1, workers=2)):
        same(a, b)
    same(next(iter(loader(task, 0, 3, 5, 0, 1))), inline[3])
    halves = [task.batch(2, r, 2, step_generator(0, 2)) for r in (0, 1)]
    for k, v in inline[2].items():
        if torch.is_tensor(v):  # rank r holds items r::2
            torch.testing.assert_close(v[0::2], halves[0][k], rtol=0, atol=0)
            torch.testing.assert_close(v[1::2], halves[1][k], rtol=0, atol=0)



@pytest.fixture(scope="module")
def mixed(small_corpus, tmp_path_factory):
    """corpus.root {A: 1, B: 3}: A = 2 of B's videos ingested as an unlabeled folder dataset (speaker alice, split
    train), B = the small SynthTalk corpus; preprocessed (dlib) and packed. -> (cfg, A, B)."""
    from spacex.corpus.ingest import ingest
    from spacex.preprocess import run

    tmp_path = tmp_path_factory.mktemp("mixed")
    b = str(small_corpus)
    videos = tmp_path / "videos" / "alice"
    videos.mkdir(parents=True)
    for r in clipfmt.read_manifest(small_corpus)[:2]:
        shutil.copyfile(clipfmt.clip_paths(small_corpus, r["clip_id"])["video"], videos / f"{r['clip_id']}.mp4")
    a = str(tmp_path / "ingested")
    ingest("folder", videos.parent, a, workers=1, progress=False)
    out = tmp_path / "store"
    cfg = config.load("smoke", overrides={"corpus.root": {a: 1, b: 3}, "preprocess.out": str(out),
                                          "preprocess.workers": 1, "pack.out": str(out / "packed"),
                                          "emotion.out": str(tmp_path / "emotion_run"),
                                          "emotion.predictions": str(tmp_path / "emotion")})
    run.run(cfg, progress=False)
    pack.main(cfg)
    return cfg, a, b


def test_corpora_mix_with_weights_and_each_clip_keeps_its_origin(mixed, tmp_path):
    """One store over both corpora, each clip's origin recorded, frames read from each clip's own corpus, training
    draws B's clips three times as often as A's; a clip id in two corpora is refused."""
    from spacex.errors import CorpusError
    from spacex.train.loader import draw_clips

    cfg, a, b = mixed
    out = Path(cfg.preprocess.out)
    with pytest.raises(CorpusError, match="in two corpora"):
        clipfmt.read_corpora([b, b])
    metas = [store.read_meta(out, c["clip_id"]) for c in store.read_manifest(out)["clips"]]
    assert {m["corpus"] for m in metas} == {a, b}
    assert all(clipfmt.clip_paths(m["corpus"], m["clip_id"])["video"].exists() for m in metas)
    p = Packed(out / "packed")
    assert p.index["corpus_weights"] == {a: 1.0, b: 3.0}
    train = p.clips("train")
    w = p.clip_weights(train)
    share_b = sum(wi for wi, c in zip(w, train) if c["corpus"] == b)
    assert share_b == pytest.approx(0.75)
    picks = draw_clips(len(train), 4000, torch.Generator().manual_seed(0), w)
    assert np.mean([train[k]["corpus"] == b for k in picks]) == pytest.approx(0.75, abs=0.03)
    c = next(c for c in train if c["corpus"] == a)  # frames of a clip of the first corpus, from its own video
    video, _ = media.read_frames(clipfmt.clip_paths(a, c["clip_id"])["video"])
    np.testing.assert_array_equal(p.frames(c, 128)[:2],
                                  crop_frames(video[:2], p.get(c, "crop_box"), 128).numpy())
    assert p.clip_weights([c]) is None  # one corpus: uniform draws
    with pytest.raises(config.ConfigError, match="weight > 0"):
        config.load("smoke", overrides={"corpus.root": {a: 0}}).corpus.roots()


def test_a_25_fps_clip_is_resampled_in_time_not_by_repeating_frames(small_corpus, small_store, tmp_path):
    """A clip kept at its native 25 fps: the store's tracks are at the model's 30 fps, interpolated in time (no
    repeated rows, close to the 30 fps original's), the audio exactly as long, the native rate recorded; the pack's
    frames are the native frames nearest each 30 fps instant."""
    from spacex.corpus.ingest import ingest
    from spacex.preprocess import run

    row = next(r for r in clipfmt.read_manifest(small_corpus) if r["split"] == "train")
    src = clipfmt.clip_paths(small_corpus, row["clip_id"])["video"]
    frames30, _ = media.read_frames(src)
    audio, sr = media.read_audio(src, 48_000)
    n25 = int(round(len(frames30) * 25 / 30))
    frames25 = frames30[np.minimum(np.round(np.arange(n25) * 30 / 25).astype(int), len(frames30) - 1)]
    (tmp_path / "videos" / "alice").mkdir(parents=True)
    media.write_video(tmp_path / "videos" / "alice" / "clip.mp4", frames25, 25, audio[: int(n25 / 25 * sr)], sr)
    corpus = tmp_path / "c25"
    ingest("folder", tmp_path / "videos", corpus, workers=1, progress=False)
    assert float(clipfmt.read_manifest(corpus)[0]["fps"]) == 25.0  # kept native
    out = tmp_path / "store"
    cfg = config.load("smoke", overrides={"corpus.root": str(corpus), "preprocess.out": str(out),
                                          "preprocess.workers": 1, "pack.out": str(out / "packed")})
    run.run(cfg, progress=False)
    cid = store.read_manifest(out)["clips"][0]["clip_id"]
    meta, arr = store.read_meta(out, cid), store.read_clip(out, cid)
    assert (meta["fps"], meta["source_fps"], meta["source_frames"]) == (30.0, 25.0, n25)
    T = meta["n_frames"]
    assert T == int(round(n25 * 30 / 25)) and len(arr["mfcc"]) == T and len(arr["audio"]) == round(T / 30 * 16000)
    repeated = np.all(arr["landmarks"][1:] == arr["landmarks"][:-1], axis=(1, 2))
    assert not repeated.any()  # frame repetition would make 1 row in 6 a copy
    ref = store.read_clip(small_store[0], row["clip_id"])["landmarks"]  # the 30 fps original, same backend
    n = min(T, len(ref))
    assert np.abs(arr["landmarks"][:n, :, :2] - ref[:n, :, :2]).mean() < 1.5  # pixels, 128 px frames
    pack.main(cfg)
    p = Packed(out / "packed")
    c = p.clips("train")[0]
    native = crop_frames(media.read_frames(clipfmt.clip_paths(corpus, cid)["video"])[0], arr["crop_box"], 128).numpy()
    nearest = np.minimum(np.round(np.arange(T) * 25 / 30).astype(int), n25 - 1)
    np.testing.assert_array_equal(p.frames(c, 128), native[nearest])


def test_emotion_classifier_labels_the_unlabeled_clips(mixed):
    """Stage train_emotion on the mixed store: trained on the labeled clips, it writes per-frame vectors (T, E) for
    the 2 unlabeled ones, which the sequence stages then read, averaged over a window; without them an unlabeled
    clip is an error that names the stage."""
    from spacex.train import emotion
    from spacex.train.sequences import SequenceData

    cfg, a, _ = mixed
    cfg = config.with_overrides(cfg, {"emotion.train.steps": 20, "emotion.train.eval_every": 20,
                                      "emotion.train.ckpt_every": 20, "emotion.train.batch_size": 4})
    metrics = emotion.main(cfg)
    assert metrics["unlabeled_clips_predicted"] == 2 and 0 <= metrics["clip_accuracy"] <= 1
    assert "test_clip_accuracy" in metrics and "chance_clip_accuracy" in metrics
    index = json.loads((Path(cfg.emotion.predictions) / "index.json").read_text())
    data = SequenceData(cfg.pack.out, "train", cfg.emotion.predictions)
    unlabeled = [c for c in data.clips if not c["emotion_label"]]
    assert sorted(index["clips"]) == sorted(c["clip_id"] for c in unlabeled) and index["emotions"] == cfg.preprocess.emotions
    c = unlabeled[0]
    per_frame = np.load(Path(cfg.emotion.predictions) / f"{c['clip_id']}.npy")
    assert per_frame.shape == (c["n_frames"], len(cfg.preprocess.emotions))
    assert (per_frame >= 0).all() and (per_frame.sum(1) <= 1 + 1e-5).all()  # probabilities x intensity
    np.testing.assert_allclose(data.get(c, "emotion", [2, 3, 4]), per_frame[2:5].mean(0), rtol=1e-6)
    labeled = next(c for c in data.clips if c["emotion_label"])
    np.testing.assert_array_equal(data.get(labeled, "emotion", [2, 3]), data.pack.get(labeled, "emotion"))
    with pytest.raises(FileNotFoundError, match="spacex train emotion"):
        SequenceData(cfg.pack.out, "train").get(c, "emotion")


def test_blink_focus_drives_with_shut_eyes_while_it_lasts_and_leaves_the_other_draws_alone(small_store):
    """fv2v.blink_focus: the focused pairs' driving frames are frames with the eyes shut, during the first
    blink_focus_until of the schedule; its extra draws come after face-vid2vid's, so the pairs it leaves alone and
    every pair after the focus ends are the unfocused run's, and blink_focus 0 changes nothing."""
    from spacex.train.fv2v import FV2VTask

    store_dir, _ = small_store
    sets = {"fv2v.model.resolution": 32, "fv2v.train.batch_size": 8, "fv2v.train.steps": 10}
    plain = FV2VTask(_cfg(store_dir, **sets, **{"fv2v.blink_focus": 0.0}))  # the smoke profile focuses: off here
    focus = FV2VTask(_cfg(store_dir, **sets, **{"fv2v.blink_focus": 0.5, "fv2v.blink_ratio": 0.9,
                                                 "fv2v.blink_focus_until": 0.5}))
    assert plain.shut == [] and focus.shut
    shut = set(focus.shut)
    ear = {k: focus.train_data.pack.get(c, "eye_openness").mean(1) for k, c in enumerate(focus.train_data.clips)}
    assert all(ear[k][t] < 0.9 * np.percentile(ear[k], 90) for k, t in shut)
    focused = 0
    for step in range(10):
        a, b = (t.plan(step, 0, 1, step_generator(0, step)) for t in (plain, focus))
        for (_, k0, i0, j0, f0, c0), (_, k1, i1, j1, f1, c1) in zip(a, b):
            assert f0 == f1 and torch.equal(c0, c1)  # flips and colour jitter are drawn first, as without the focus
            if (k0, i0, j0) != (k1, i1, j1):
                assert step < 5 and (k1, j1) in shut
                focused += 1
    assert 10 <= focused <= 30  # about half of the 40 pairs of steps 0-4 (a few were shut already)
