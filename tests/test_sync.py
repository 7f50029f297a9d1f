"""Lip-sync metrics: SyncNet v2 (architecture, loading, LSE windowing and offsets) and the offline av_sync score."""
import numpy as np
import pytest
import torch

from spacex import landmarks as lm
from spacex import media
from spacex.corpus import clip as clipfmt
from spacex.evaluate import sync
from spacex.weights import MissingWeights, require


# ------------------------------------------------------------------------------------ offsets (pure)
def _embeddings(n: int, k: int, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Video (n, dim) and audio (n, dim) cut from one sequence so that audio[t] = video[t + k] (audio leads by k)."""
    z = np.random.default_rng(seed).standard_normal((n + 20, dim)).astype(np.float32)
    return z[10:10 + n], z[10 + k:10 + k + n]


def _calc_pdist_reference(v: np.ndarray, a: np.ndarray, vshift: int) -> np.ndarray:
    """syncnet_python's calc_pdist written as its plain loop: (N, 2 vshift + 1)."""
    padded = np.concatenate([np.zeros((vshift, a.shape[1]), a.dtype), a, np.zeros((vshift, a.shape[1]), a.dtype)])
    out = np.empty((len(v), 2 * vshift + 1))
    for i in range(len(v)):
        for j in range(2 * vshift + 1):
            out[i, j] = np.linalg.norm(v[i] - padded[i + j] + 1e-6)  # torch pairwise_distance adds eps
    return out


@pytest.mark.parametrize("k", [-3, 0, 4])
def test_offset_scores_recovers_a_known_shift(k):
    n, vshift = 60, 15
    v, a = _embeddings(n, k)
    res = sync.offset_scores(v, a, vshift)
    assert res.offset == k
    assert res.offsets[np.argmin(res.dists)] == k
    # At the true offset video window t meets audio window t - k: exact wherever that exists; the |k| windows
    # whose partner lies beyond the clip meet the zero padding, so LSE-D is exactly their norms over N.
    edge = np.arange(0, k) if k > 0 else np.arange(n + k, n)
    expected = np.linalg.norm(v[edge] + 1e-6, axis=1).sum() / n
    assert res.lse_d == pytest.approx(expected, abs=1e-4)
    if k == 0:
        assert res.lse_d < 1e-3
    assert res.lse_c > 5.0  # random 32-d Gaussians: mismatched windows are ~8 apart
    np.testing.assert_allclose(res.frame_dists, _calc_pdist_reference(v, a, vshift), rtol=1e-5, atol=1e-5)
    assert res.lse_c == pytest.approx(float(np.median(res.dists) - res.dists.min()))


def test_offset_scores_rejects_mismatched_embeddings():
    with pytest.raises(ValueError):
        sync.offset_scores(np.zeros((5, 8)), np.zeros((6, 8)))


# ------------------------------------------------------------------------------------------- audio
def test_syncnet_mfcc_rate_rows_and_official_parameters():
    import python_speech_features

    rng = np.random.default_rng(1)
    one, two = (rng.uniform(-0.5, 0.5, s * 16_000).astype(np.float32) for s in (1, 2))
    m1, m2 = sync.syncnet_mfcc(one), sync.syncnet_mfcc(two)
    assert m1.shape[0] == m2.shape[0] == 13
    assert m2.shape[1] - m1.shape[1] == 100  # 100 Hz
    assert m1.shape[1] == 99  # python_speech_features framing: 1 + ceil((16000 - 400) / 160)
    # syncnet_python calls mfcc(int16 audio, 16000) with the library defaults: the convention's parameters.
    pcm = np.round(two * 32768).astype(np.int16)
    np.testing.assert_allclose(m2, python_speech_features.mfcc(pcm, 16_000).T, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError):
        sync.syncnet_mfcc(one, 48_000)


# -------------------------------------------------------------------------------- SyncNet network
# Official layers (syncnet_python SyncNetModel.S): Sequential index -> weight shape. Each conv at i has its
# BatchNorm at i + 1 (weight, bias, running_mean, running_var); each fc head is Linear 0, BatchNorm1d 1, Linear 3.
OFFICIAL_WEIGHTS = {
    "netcnnaud.0": (64, 1, 3, 3), "netcnnaud.4": (192, 64, 3, 3), "netcnnaud.8": (384, 192, 3, 3),
    "netcnnaud.11": (256, 384, 3, 3), "netcnnaud.14": (256, 256, 3, 3), "netcnnaud.18": (512, 256, 5, 4),
    "netcnnlip.0": (96, 3, 5, 7, 7), "netcnnlip.4": (256, 96, 1, 5, 5), "netcnnlip.8": (256, 256, 1, 3, 3),
    "netcnnlip.11": (256, 256, 1, 3, 3), "netcnnlip.14": (256, 256, 1, 3, 3), "netcnnlip.18": (512, 256, 1, 6, 6),
    "netfcaud.0": (512, 512), "netfcaud.3": (1024, 512), "netfclip.0": (512, 512), "netfclip.3": (1024, 512),
}


def _official_state_shapes() -> dict[str, tuple]:
    shapes = {}
    for layer, w in OFFICIAL_WEIGHTS.items():
        shapes[f"{layer}.weight"], shapes[f"{layer}.bias"] = w, w[:1]
        if not layer.endswith(".3"):  # every conv and the first fc are followed by a BatchNorm
            prefix, i = layer.rsplit(".", 1)
            for name in ("weight", "bias", "running_mean", "running_var"):
                shapes[f"{prefix}.{int(i) + 1}.{name}"] = w[:1]
    return shapes


@pytest.fixture(scope="module")
def syncnet() -> sync.SyncNetV2:
    torch.manual_seed(0)
    return sync.SyncNetV2().eval()


def test_syncnet_state_dict_matches_the_official_file(syncnet):
    ours = {k: tuple(v.shape) for k, v in syncnet.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert ours == _official_state_shapes()
    assert len(ours) == 16 * 2 + 14 * 4


@torch.no_grad()
def test_syncnet_embeds_1024(syncnet):
    assert syncnet.forward_lip(torch.rand(2, 3, 5, 224, 224) * 255).shape == (2, 1024)
    assert syncnet.forward_aud(torch.randn(3, 1, 13, 20)).shape == (3, 1024)


@torch.no_grad()
def test_load_syncnet_takes_an_old_state_dict_and_refuses_pickled_modules(syncnet, tmp_path):
    # The official file predates num_batches_tracked: a state dict without it must load (strictly).
    old = {k: v for k, v in syncnet.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(old, tmp_path / "syncnet_v2.model")
    loaded = sync.load_syncnet(tmp_path / "syncnet_v2.model")
    x = torch.randn(2, 1, 13, 20)
    torch.testing.assert_close(loaded.forward_aud(x), syncnet.forward_aud(x))
    assert not loaded.training
    torch.save(syncnet, tmp_path / "module.model")  # a pickled module: never unpickled at evaluation time
    with pytest.raises(ValueError, match="refusing to unpickle"):
        sync.load_syncnet(tmp_path / "module.model")


def test_syncnet_weights_missing_names_file_and_fetch(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeights, match="syncnet_v2.model") as e:
        require("syncnet_v2")
    assert "spacex weights fetch syncnet_v2" in str(e.value) and str(tmp_path) in str(e.value)
    with pytest.raises(MissingWeights):
        sync.load_syncnet()


@torch.no_grad()
def test_lse_windows_crops_and_channel_order(syncnet):
    rng = np.random.default_rng(2)
    frames = rng.integers(0, 256, (12, 64, 64, 3), dtype=np.uint8)  # small RGB crops: resized to 224
    audio = (0.1 * rng.standard_normal(12 * 640)).astype(np.float32)
    res = sync.lse(frames, audio, syncnet, vshift=3)
    assert res.frame_dists.shape == (12 - 5, 7)  # official count: min(T, S // 640) - 5 windows
    assert res.lse_d == pytest.approx(res.dists.min()) and res.lse_c >= 0 and -3 <= res.offset <= 3
    bgr = sync.lse(frames[..., ::-1], audio, syncnet, vshift=3, channel_order="bgr")
    np.testing.assert_allclose(bgr.dists, res.dists, rtol=1e-5)
    with pytest.raises(ValueError, match="25 fps"):
        sync.lse(frames, audio, syncnet, fps=30)


# ------------------------------------------------------------------------------ offline av_sync
@pytest.fixture(scope="module")
def talking(tiny_corpus) -> tuple[np.ndarray, np.ndarray, int, float]:
    """All tiny-corpus clips end to end: exact mouth opening (T,), their mp4 audio (T * hop,), rate, fps."""
    mouths, audios = [], []
    for row in clipfmt.read_manifest(tiny_corpus):
        gt = clipfmt.read_groundtruth(tiny_corpus, row["clip_id"])
        audio, sr = media.read_audio(clipfmt.clip_paths(tiny_corpus, row["clip_id"])["video"])
        fps = float(row["fps"])
        hop = int(round(sr / fps))
        n = len(gt["landmarks"])
        mouths.append(lm.mouth_opening(gt["landmarks"]))
        audios.append(np.pad(audio, (0, max(0, n * hop - len(audio))))[: n * hop])  # exactly n frames of audio
    return np.concatenate(mouths), np.concatenate(audios), sr, fps


def _delay(audio: np.ndarray, samples: int) -> np.ndarray:
    """Audio later by `samples` (earlier if negative), zero-padded, same length."""
    if samples >= 0:
        return np.concatenate([np.zeros(samples, audio.dtype), audio[: len(audio) - samples]])
    return np.concatenate([audio[-samples:], np.zeros(-samples, audio.dtype)])


def test_av_sync_tracks_a_known_audio_shift(talking):
    mouth, audio, sr, fps = talking
    hop = int(round(sr / fps))
    base = sync.av_sync(mouth, audio, sr, fps)
    assert base.av_corr > 0.3 and base.av_conf > 0.2  # measured 0.48 and 0.46
    assert abs(base.av_offset) <= 3  # SynthTalk's mouth trails its audio energy by about a frame
    for k in (-4, 3, 6):  # delaying the audio by k frames moves the offset by -k (LSE's sign: > 0 = audio leads)
        shifted = sync.av_sync(mouth, _delay(audio, k * hop), sr, fps)
        assert shifted.av_offset - base.av_offset == -k, k
        assert shifted.av_corr > 0.3
    # Audio from elsewhere in the corpus: no sync, much lower peak correlation.
    other = sync.av_sync(mouth, np.roll(audio, len(audio) // 2), sr, fps)
    assert other.av_corr < base.av_corr - 0.15


def test_av_sync_undefined_for_a_frozen_mouth():
    audio = np.random.default_rng(3).standard_normal(16_000 * 3).astype(np.float32)
    res = sync.av_sync(np.ones(75), audio, 16_000, 25.0)
    assert res.av_offset is None and np.isnan(res.av_corr) and np.isnan(res.av_conf)
    with pytest.raises(ValueError):
        sync.av_sync(np.ones(20), audio, 16_000, 25.0)


def test_audio_envelope_any_rate():
    sr, fps = 44_100, 29.97  # not a whole number of samples per frame
    audio = np.zeros(int(sr * 2), np.float32)
    audio[sr // 2: sr] = 0.5  # loud from 0.5 s to 1 s
    env = sync.audio_envelope(audio, sr, fps, 60)
    t = (np.arange(60) + 0.5) / fps
    assert env.shape == (60,)
    np.testing.assert_allclose(env[(t > 0.6) & (t < 0.9)], 0.5, rtol=1e-6)
    assert np.all(env[(t < 0.4) | (t > 1.1)] == 0)
