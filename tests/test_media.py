import numpy as np
import pytest

from spacex import media


def _tone(seconds, sr=48000, f=220.0):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32)


def test_write_read_roundtrip(tmp_path):
    frames = np.zeros((45, 32, 48, 3), np.uint8)
    frames[:, :, :24, 0] = 200  # left half red
    audio = _tone(1.5)
    p = media.write_video(tmp_path / "a.mp4", frames, 30, audio, 48000)
    info = media.probe(p)
    assert (info.n_frames, info.width, info.height, info.fps) == (45, 48, 32, 30.0)
    back, fps = media.read_frames(p)
    assert back.shape == frames.shape and abs(back[..., 0].astype(int) - frames[..., 0]).mean() < 8
    a, sr = media.read_audio(p)
    assert sr == 48000 and abs(len(a) / sr - 1.5) < 1 / 30
    assert np.corrcoef(a[: len(audio)], audio[: len(a)])[0, 1] > 0.99
    a16, sr16 = media.read_audio(p, 16000)
    assert sr16 == 16000 and abs(len(a16) / 16000 - 1.5) < 1 / 30


def test_failed_write_leaves_no_file(tmp_path):
    def frames():
        yield np.zeros((32, 32, 3), np.uint8)
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        media.write_video(tmp_path / "x.mp4", frames(), 30)
    assert list(tmp_path.iterdir()) == []


def test_odd_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="even"):
        media.write_video(tmp_path / "x.mp4", np.zeros((3, 31, 32, 3), np.uint8), 30)


def test_probe_reasons(tmp_path):
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(media.MediaError, match="not a readable media file"):
        media.probe(tmp_path / "junk.mp4")
    media.write_wav(tmp_path / "a.wav", _tone(0.5), 48000)
    with pytest.raises(media.MediaError, match="no video stream"):
        media.probe(tmp_path / "a.wav")
    assert media.audio_duration(tmp_path / "a.wav") == pytest.approx(0.5, abs=1e-3)
    p = media.write_video(tmp_path / "silent.mp4", np.zeros((10, 16, 16, 3), np.uint8), 30)
    assert media.probe(p).has_audio is False


def test_streamed_audio_is_the_audio_read_whole(tmp_path):
    """Long clips are never held: the speech streams through AudioWindow (MFCCs) and into the mp4 (take), and
    both must give exactly what the whole-array paths give."""
    from spacex.preprocess import audio as audiofeat

    rng = np.random.default_rng(0)
    speech = (0.2 * rng.standard_normal(int(3.3 * 44100))).astype(np.float32)
    wav = media.write_wav(tmp_path / "s.wav", speech, 44100)
    whole, sr = media.read_audio(wav, 16000)
    blocks = list(media.iter_audio(wav, 16000))
    assert len(blocks) > 10 and np.array_equal(np.concatenate(blocks), whole)
    # windows that move forward, with context before and after the clip (zeros there), as the chunks ask
    win = media.AudioWindow(media.iter_audio(wav, 16000))
    T, fps = int(len(whole) / sr * 30), 30
    for s in range(0, T, 25):
        lo, hi = max(0, s - 6), min(T, s + 25 + 6)
        a, b = audiofeat.mfcc_span(sr, fps, hi - lo, 512, start=lo)
        got = audiofeat.mfcc_per_frame(win.get(a, b), sr, fps, hi - lo, 13, 512, 40, start=lo, offset=a,
                                       total=len(whole))
        assert np.array_equal(got, audiofeat.mfcc_per_frame(whole, sr, fps, hi - lo, 13, 512, 40, start=lo))
    with pytest.raises(ValueError, match="already dropped"):
        win.get(0, 10)
    win.close()  # the file is closed at once, not when the window is garbage-collected
    assert win._blocks.gi_frame is None
    # the same mp4, byte for byte, from an array and from a stream of blocks cut short
    frames = np.zeros((60, 16, 16, 3), np.uint8)
    n = int(60 / 30 * 48000)
    a48, _ = media.read_audio(wav, 48000)
    one = media.write_video(tmp_path / "array.mp4", frames, 30, a48[:n], 48000)
    two = media.write_video(tmp_path / "stream.mp4", frames, 30, media.take(media.iter_audio(wav, 48000), n), 48000)
    assert one.read_bytes() == two.read_bytes()
