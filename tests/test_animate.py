"""The animation pipeline on small untrained networks: files, timing, controls, bad input."""
import numpy as np
import pytest
import torch
from skimage import data

from spacex import landmarks as lm
from spacex import media
from spacex.animate.pipeline import AnimateError, AnimateOptions, Animator
from spacex.models.fv2v.model import FaceVid2Vid
from spacex.models.l2l import Landmarks2Latents
from spacex.models.posegen import PoseGen
from spacex.models.s2l import Speech2Landmarks
from spacex.preprocess.emotion import DEFAULT_EMOTIONS


@pytest.fixture(scope="module")
def animator():
    torch.manual_seed(0)
    fv2v = FaceVid2Vid(resolution=32, num_kp=4, base=8, volume_channels=4, depth=4, generator_blocks=1,
                       use_vgg=False).eval()
    return Animator(fv2v, Speech2Landmarks(audio_dim=16, landmark_dim=8, hidden=16).eval(),
                    Landmarks2Latents(num_kp=4, landmark_dim=8, audio_dim=8, source_dim=8, hidden=16).eval(),
                    PoseGen(audio_dim=8, noise_dim=4, hidden=16).eval(), DEFAULT_EMOTIONS)


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """Real TTS speech as a 22.05 kHz stereo wav."""
    from spacex.corpus.synth.speech import synthesize

    u = synthesize("Please bring me my umbrella before the rain.", "en-us+f3")
    p = tmp_path_factory.mktemp("audio") / "speech.wav"
    media.write_wav(p, np.stack([u.audio, u.audio], 1), u.sample_rate)
    return p, u.duration


def test_output_has_both_streams_and_the_audio_length(animator, speech, tmp_path):
    wav, duration = speech
    result = animator(data.astronaut(), wav, AnimateOptions(emotion="happy:0.7,surprise:0.3"))
    out = result.save(tmp_path / "out.mp4", intermediates=True)
    info = media.probe(out)
    assert info.has_audio and info.video_codec == "h264" and (info.width, info.height) == (32, 32)
    assert abs(info.video_duration - duration) <= 1 / 30
    assert abs(info.audio_duration - info.video_duration) <= 1 / 30
    arrays = np.load(tmp_path / "out.npz")
    T = info.n_frames
    assert arrays["normalized_landmarks"].shape == (T, 68, 3) and arrays["keypoints"].shape == (T, 4, 3)


def test_audio_of_an_mp4_and_fixed_pose(animator, speech, tmp_path):
    wav, _ = speech
    audio, sr = media.read_audio(wav)
    clip = media.write_video(tmp_path / "talk.mp4", np.zeros((int(len(audio) / sr * 30), 16, 16, 3), np.uint8), 30,
                             media.resample_audio(audio, sr, 48000)[: int(len(audio) / sr * 30) * 1600], 48000)
    r = animator(data.astronaut(), clip, AnimateOptions(pose="fixed", blink="off"))
    assert np.allclose(r.pose, r.pose[:1])  # the photo's pose throughout


def test_blink_at_a_requested_time_closes_the_eyes(animator, speech):
    wav, _ = speech
    r = animator(data.astronaut(), wav, AnimateOptions(blink="1.5", pose="fixed"))
    ear = lm.eye_aspect_ratio(r.normalized_landmarks).mean(1)
    assert abs(int(np.argmin(ear)) / 30 - 1.5) <= 0.1
    assert ear.min() < 0.5 * np.median(ear)
    calm = animator(data.astronaut(), wav, AnimateOptions(blink="off", pose="fixed"))
    ear_off = lm.eye_aspect_ratio(calm.normalized_landmarks).mean(1)
    assert ear_off.min() > 0.8 * np.median(ear_off)


def test_bad_input_gets_a_clear_error(animator, speech, tmp_path):
    wav, _ = speech
    with pytest.raises(AnimateError, match="photo: no face"):
        animator(np.full((256, 256, 3), 120, np.uint8), wav)
    with pytest.raises(AnimateError, match="photo: cannot read"):
        animator(tmp_path / "missing.png", wav)
    silent = media.write_wav(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000)
    with pytest.raises(AnimateError, match="silent"):
        animator(data.astronaut(), silent)
    short = media.write_wav(tmp_path / "short.wav", np.full(100, 0.3, np.float32), 16000)
    with pytest.raises(AnimateError, match="too short"):
        animator(data.astronaut(), short)
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"not audio")
    with pytest.raises(AnimateError, match="audio: cannot read"):
        animator(data.astronaut(), junk)
    with pytest.raises(ValueError, match="vocabulary"):
        animator(data.astronaut(), wav, AnimateOptions(emotion="bored:1.0"))


def test_pose_transfer_reproduces_the_source_videos_yaw(animator, small_corpus):
    """Transfer a SynthTalk clip's head motion: its yaw (relative to frame 0) within 4 degrees of the truth."""
    from spacex.corpus import clip as clipfmt

    row = clipfmt.read_manifest(small_corpus)[0]
    video = clipfmt.clip_paths(small_corpus, row["clip_id"])["video"]
    truth = clipfmt.read_groundtruth(small_corpus, row["clip_id"])["rotation"]
    r = animator(data.astronaut(), video, AnimateOptions(pose=f"video:{video}", blink="off"))
    T = min(len(r.pose), len(truth))
    got = r.pose[:T, 0] - r.pose[0, 0]
    want = truth[:T, 0] - truth[0, 0]
    assert np.abs(got - want).mean() < 4.0
    assert np.ptp(want) > 2  # the clip does turn, so the test means something


def test_pose_from_a_file(animator, speech, tmp_path):
    wav, _ = speech
    yaw = np.linspace(0, 20, 40)
    np.savetxt(tmp_path / "pose.csv", np.c_[yaw, np.zeros(40), np.zeros(40)], delimiter=",")
    r = animator(data.astronaut(), wav, AnimateOptions(pose=f"file:{tmp_path / 'pose.csv'}", blink="off"))
    np.testing.assert_allclose(r.pose[:40, 0] - r.pose[0, 0], yaw, atol=1e-6)
    np.testing.assert_allclose(r.pose[40:, 0] - r.pose[0, 0], 20, atol=1e-6)  # held after the file ends
    (tmp_path / "bad.csv").write_text("1,2\n")
    with pytest.raises(AnimateError, match="pose file"):
        animator(data.astronaut(), wav, AnimateOptions(pose=f"file:{tmp_path / 'bad.csv'}"))


def test_streamed_output_equals_the_in_memory_one(animator, speech, tmp_path):
    wav, _ = speech
    opts = AnimateOptions(pose="fixed", blink="off")
    whole = animator(data.astronaut(), wav, opts)
    whole.save(tmp_path / "whole.mp4")
    streamed = animator(data.astronaut(), wav, opts, stream_to=tmp_path / "streamed.mp4")
    assert streamed.frames is None and streamed.video == tmp_path / "streamed.mp4"
    assert (tmp_path / "whole.mp4").read_bytes() == (tmp_path / "streamed.mp4").read_bytes()
    with pytest.raises(ValueError, match="streamed"):
        streamed.save(tmp_path / "again.mp4")
