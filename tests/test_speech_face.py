"""TTS and the parametric face: behaviour the corpus relies on."""
import numpy as np
import pytest

from spacex import landmarks as lm
from spacex import tts as speech
from spacex.corpus.synth import face


def test_tts_speaks_with_phoneme_timings():
    u = speech.synthesize("Bob bought a blue boat.", "en-us+m3")
    assert u.sample_rate == 22050 and u.duration > 0.8
    assert np.sqrt(np.mean(u.audio ** 2)) > 0.01  # not silence
    syms = [p.symbol.strip("',") for p in u.phonemes]
    assert syms.count("b") >= 4  # Bob, bought, blue, boat
    starts = [p.start for p in u.phonemes]
    assert starts == sorted(starts) and all(p.end > p.start for p in u.phonemes)


def test_tts_is_deterministic_and_voices_differ():
    a = speech.synthesize("Help the woman get back to her feet.", "en-us+f3", seed=3)
    b = speech.synthesize("Help the woman get back to her feet.", "en-us+f3", seed=3)
    c = speech.synthesize("Help the woman get back to her feet.", "en-us+m3", seed=3)
    np.testing.assert_array_equal(a.audio, b.audio)
    assert len(a.audio) != len(c.audio) or not np.array_equal(a.audio, c.audio)


def test_emotional_prosody_changes_speech():
    text = "The morning was cool and the sky was pale."
    sad = speech.synthesize(text, "en-us+m3", speech.prosody_for("sad", 1.0))
    angry = speech.synthesize(text, "en-us+m3", speech.prosody_for("angry", 1.0))
    assert sad.duration > angry.duration * 1.15  # sad is slower
    rms = lambda u: np.sqrt(np.mean(u.audio ** 2))  # noqa: E731
    assert rms(angry) > rms(sad)  # and quieter


def test_unknown_voice_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no voice"):
        speech.synthesize("hello", "xx-nonexistent")


def _identity():
    from spacex.corpus.synth.render import default_portraits

    rng = np.random.default_rng(0)
    p = default_portraits(128)[0]
    return face.make_identity(p.landmarks, rng, vary=False)


@pytest.fixture(scope="module")
def ident():
    return _identity()


def test_bilabials_close_and_open_vowels_open_the_mouth(ident):
    phonemes = [("_", 0.0, 0.2), ("m", 0.2, 0.35), ("'a", 0.35, 0.6), ("p", 0.6, 0.72), ("_", 0.72, 1.0)]
    m = face.animate(ident, phonemes, 30, 30.0, "neutral", 1.0, np.random.default_rng(0))
    gap = lm.mouth_opening(m.norm)
    t = (np.arange(30) + 0.5) / 30
    assert gap[(t > 0.42) & (t < 0.55)].mean() > 0.05
    assert gap[(t > 0.24) & (t < 0.32)].max() < 0.2 * gap.max()  # /m/ closes the lips
    assert gap[(t > 0.63) & (t < 0.7)].max() < 0.2 * gap.max()  # /p/ closes the lips


@pytest.mark.parametrize("emotion,measure,sign", [
    ("happy", lambda n: n[:, 54, 0] - n[:, 48, 0], +1),  # smile widens the mouth
    ("sad", lambda n: (n[:, 48, 1] + n[:, 54, 1]) / 2, +1),  # corners drop (y down)
    ("surprise", lambda n: n[:, 17:27, 1].mean(1), -1),  # brows rise
    ("angry", lambda n: n[:, 17:27, 1].mean(1), +1),  # brows lower
])
def test_expression_moves_monotonically_with_intensity(ident, emotion, measure, sign):
    values = []
    for intensity in (0.0, 0.5, 1.0):
        m = face.animate(ident, [("_", 0.0, 1.0)], 10, 30.0, emotion, intensity, np.random.default_rng(1))
        values.append(float(measure(m.norm).mean()))
    assert sign * (values[1] - values[0]) > 0 and sign * (values[2] - values[1]) > 0, values


def test_blinks_close_the_eyes_at_a_natural_rate(ident):
    m = face.animate(ident, [("_", 0.0, 60.0)], 1800, 30.0, "neutral", 1.0, np.random.default_rng(2))
    assert 8 <= len(m.blinks) <= 30  # per minute
    ear = lm.eye_aspect_ratio(m.norm).mean(1)
    closed, open_ = ear[m.closure > 0.9], ear[m.closure == 0]
    assert closed.max() < 0.5 * open_.min()


def test_mirror_permutation_is_an_involution():
    assert sorted(lm.MIRROR) == list(range(68))
    np.testing.assert_array_equal(lm.MIRROR[lm.MIRROR], np.arange(68))


def test_rotation_conventions():
    nose = np.array([0.0, 0.0, -1.0])  # towards the camera
    assert (lm.rotation_matrix(0, 10, 0) @ nose)[1] > 0  # +pitch: nose goes down
    assert (lm.rotation_matrix(10, 0, 0) @ nose)[0] < 0  # +yaw: nose goes to image left
    R = lm.rotation_matrix(np.array([5.0, -20]), np.array([3.0, 7]), np.array([-4.0, 12]))
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-12)
