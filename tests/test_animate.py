"""The animation pipeline on small untrained networks: files, timing, controls, bad input."""
from pathlib import Path

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
    from spacex.tts import synthesize

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
    with pytest.raises(AnimateError, match="photo: .*not a readable image"):
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


@pytest.fixture(scope="module")
def lively_animator():
    """Untrained networks start as identity maps (zero heads, identity FiLM); random heads make every output
    depend on the audio, the emotion and the recurrent state, so chunking errors would show."""
    torch.manual_seed(1)
    fv2v = FaceVid2Vid(resolution=32, num_kp=4, base=8, volume_channels=4, depth=4, generator_blocks=1,
                       use_vgg=False).eval()
    s2l = Speech2Landmarks(audio_dim=16, landmark_dim=8, hidden=16).eval()
    l2l = Landmarks2Latents(num_kp=4, landmark_dim=8, audio_dim=8, source_dim=8, hidden=16, gaze_dim=4).eval()
    for head in (s2l.head, l2l.head):
        torch.nn.init.normal_(head.weight, std=0.02)
    return Animator(fv2v, s2l, l2l, PoseGen(audio_dim=8, noise_dim=4, hidden=16).eval(), DEFAULT_EMOTIONS)


def test_chunked_inference_equals_whole_clip(lively_animator, speech):
    wav, _ = speech
    whole = lively_animator(data.astronaut(), wav, AnimateOptions(chunk=10_000, pose="predicted", gaze="auto"))
    chunked = lively_animator(data.astronaut(), wav, AnimateOptions(chunk=7, pose="predicted", gaze="auto"))
    assert len(whole.frames) > 7 * 5  # many chunks
    assert np.ptp(whole.normalized_landmarks[:, lm.MOUTH, 1], axis=0).max() > 1e-3  # the audio moves the mouth
    for name in ("normalized_landmarks", "posed_landmarks", "keypoints", "pose"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), atol=1e-4, err_msg=name)
    assert np.abs(chunked.frames.astype(int) - whole.frames.astype(int)).max() <= 1


def test_reduced_precisions_render_close_to_fp32_and_auto_chooses(lively_animator, speech):
    from spacex.animate.pipeline import AnimateError, fast_bf16

    wav, _ = speech
    a = lively_animator
    assert a.precision == "fp32"  # the library's default: the exact path
    bf16 = Animator(a.fv2v, a.s2l, a.l2l, a.posegen, DEFAULT_EMOTIONS, precision="bf16")
    opts = AnimateOptions(pose="fixed", blink="off")
    ref, fast = a(data.astronaut(), wav, opts), bf16(data.astronaut(), wav, opts)
    diff = np.abs(fast.frames.astype(int) - ref.frames.astype(int))
    assert fast.frames.dtype == np.uint8 and fast.frames.shape == ref.frames.shape
    assert diff.max() > 0, "bf16 rendered bit for bit like fp32: autocast did not run"
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 4, (diff.mean(), diff.max())
    np.testing.assert_array_equal(fast.keypoints, ref.keypoints)  # keypoints and pose stay fp32: only pixels move
    # bf16conv: fp32 tensors, oneDNN's bf16 convolutions (on this CPU's bf16 units, if it has them)
    conv = Animator(a.fv2v, a.s2l, a.l2l, a.posegen, DEFAULT_EMOTIONS, precision="bf16conv")
    mode = torch.backends.mkldnn.conv.fp32_precision
    near = conv(data.astronaut(), wav, opts)
    assert torch.backends.mkldnn.conv.fp32_precision == mode  # the global switch is put back after rendering
    d = np.abs(near.frames.astype(int) - ref.frames.astype(int))
    assert d.max() <= 2 and d.mean() < diff.mean(), (d.max(), d.mean(), diff.mean())  # far closer than autocast
    if fast_bf16(torch.device("cpu")) and " amx_bf16" in open("/proc/cpuinfo").read():
        # where it was measured (AMX): oneDNN then computes the convolutions in bf16. On an AMD EPYC with
        # AVX512-BF16 but no AMX (2026-12-04) it kept them fp32 under the switch, bit for bit
        assert d.max() > 0, "bf16conv rendered bit for bit like fp32 on an AMX CPU: the switch did nothing"
    np.testing.assert_array_equal(near.keypoints, ref.keypoints)
    with pytest.MonkeyPatch.context() as mp:  # the switch is put back when rendering fails too
        mp.setattr(conv.fv2v, "render_sequence", lambda *a, **k: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            conv.render(None, {}, torch.zeros(1, 1, 3))
    assert torch.backends.mkldnn.conv.fp32_precision == mode
    auto = Animator(a.fv2v, a.s2l, a.l2l, a.posegen, DEFAULT_EMOTIONS, precision="auto")
    assert auto.precision == ("bf16" if fast_bf16(auto.device) else "fp32")  # the fastest that passed the check
    with pytest.raises(AnimateError, match="precision"):
        Animator(a.fv2v, a.s2l, a.l2l, a.posegen, DEFAULT_EMOTIONS, precision="fp16")


def test_the_render_batch_changes_speed_not_frames(lively_animator, speech):
    """`render_batch` frames go through the renderer per call; batch 1 and batch 5 (not a divisor of the chunk)
    render the same frames within float noise, and a batch below 1 is refused."""
    from spacex.animate.pipeline import AnimateError

    wav, _ = speech
    a = lively_animator
    opts = AnimateOptions(pose="fixed", blink="off")
    ref = a(data.astronaut(), wav, opts)
    real = a.fv2v.render
    for b in (1, 5):
        other = Animator(a.fv2v, a.s2l, a.l2l, a.posegen, DEFAULT_EMOTIONS, render_batch=b)
        sizes = []
        with pytest.MonkeyPatch.context() as mp:  # count the frames of each renderer call
            mp.setattr(a.fv2v, "render", lambda img, src, kp: sizes.append(len(kp)) or real(img, src, kp))
            out = other(data.astronaut(), wav, opts)
        assert max(sizes) == b and sum(sizes) == len(out.frames)
        assert out.frames.shape == ref.frames.shape
        assert np.abs(out.frames.astype(int) - ref.frames.astype(int)).max() <= 1
    with pytest.raises(AnimateError, match="render_batch"):
        Animator(a.fv2v, a.s2l, a.l2l, a.posegen, DEFAULT_EMOTIONS, render_batch=0)


def test_several_faces_largest_with_a_warning_or_an_error(animator, speech):
    wav, _ = speech
    face = data.astronaut()[:256, 96:352]  # the face, 256 px
    small = face[::2, ::2]  # the same face at half size
    photo = np.zeros((256, 512, 3), np.uint8)
    photo[:, :256], photo[64:192, 320:448] = face, small
    with pytest.warns(UserWarning, match="2 faces; animating the largest"):
        r = animator(photo, wav, AnimateOptions(pose="fixed", blink="off"))
    assert r.box[0] < 256 / 2 < r.box[2]  # the crop is on the large face
    with pytest.raises(AnimateError, match="2 faces"):
        animator(photo, wav, AnimateOptions(faces="error"))
    with pytest.raises(AnimateError, match="face too small"):
        animator(data.astronaut()[::4, ::4], wav, AnimateOptions(min_face=64))


def test_side_by_side_intermediates_video(animator, speech, tmp_path):
    wav, duration = speech
    r = animator(data.astronaut(), wav, AnimateOptions(pose="fixed"), stream_to=tmp_path / "out.mp4")
    panels = r.save_side_by_side(r.video, size=64)
    info = media.probe(panels)
    assert (info.width, info.height) == (4 * 64, 64) and info.has_audio
    assert info.n_frames == len(r.keypoints)
    frame = next(media.iter_frames(panels))[1]
    left = frame[:, :64].astype(int)
    assert ((left[..., 0] > 150) & (left[..., 1] < 100)).sum() > 20  # red landmark dots on white


@pytest.fixture(scope="module")
def trained_s2l(train_store, tmp_path_factory):
    """A Speech2Landmarks trained briefly (smoke profile) on a 16-clip corpus: enough to learn emotion."""
    
    from spacex import config
    from spacex.train import s2l

    out = tmp_path_factory.mktemp("s2l_run")
    cfg = config.load("smoke", overrides={"preprocess.out": str(train_store), "pack.out": str(train_store / "packed"), "s2l.out": str(out),
                                          "s2l.train.steps": 400, "s2l.train.eval_every": 400,
                                          "s2l.train.ckpt_every": 400, "s2l.train.log_every": 400})
    s2l.main(cfg)
    from spacex.checkpoint import load_model

    return load_model(out / "last.pt", Speech2Landmarks, "cpu")[0].eval()


def test_emotion_intensity_moves_the_landmarks_monotonically(animator, trained_s2l, speech):
    """SynthTalk's happy is a smile (wider mouth corners), surprise raises the brows: raising either intensity
    moves the predicted landmarks that way, step by step."""
    wav, _ = speech
    a = Animator(animator.fv2v, trained_s2l, animator.l2l, None, DEFAULT_EMOTIONS)

    def measure(emotion):
        n = a(data.astronaut(), wav, AnimateOptions(emotion=emotion, pose="fixed", blink="off")).normalized_landmarks
        width = np.linalg.norm(n[:, 54, :2] - n[:, 48, :2], axis=1).mean()  # mouth corners
        brow = (n[:, 37:39, 1].mean(1) - n[:, 19:21, 1].mean(1)).mean()  # eye top to brow (y grows down)
        return width, brow

    smile = [measure(e)[0] for e in ("neutral:1.0", "happy:0.5", "happy:1.0")]
    brows = [measure(e)[1] for e in ("neutral:1.0", "surprise:0.5", "surprise:1.0")]
    assert np.all(np.diff(smile) > 0), smile
    assert np.all(np.diff(brows) > 0), brows


def test_emotion_response_is_the_inference_path_and_the_scorecard_reads_it(animator, trained_s2l, train_store,
                                                                          tmp_path):
    """The animate stage's emotion-intensity measurement (spacex.animate.batch.emotion_response) runs the same
    Speech2Landmarks as inference, finds the trained model's emotions growing step by step, and the scorecard
    row holds on it; an S2L whose emotion input is cut gives no growth and the row does not hold."""
    from spacex.animate.batch import emotion_response
    from spacex.evaluate.report.claims import HOLDS, emotion_claim

    from spacex.preprocess.packed import Packed

    root = Path(next(iter(Packed(train_store / "packed").index["corpus_weights"])))
    video, other = sorted(root.glob("**/*.mp4"))[:2]  # clips of the corpus S2L trained on: photo and speech
    wav = media.write_wav(tmp_path / "speech.wav", *media.read_audio(video, 16_000))
    a = Animator(animator.fv2v, trained_s2l, animator.l2l, None, DEFAULT_EMOTIONS)
    photo = data.astronaut()
    both = a.landmarks_for(photo, wav, ["happy:1.0"])[0]
    full = a(photo, wav, AnimateOptions(emotion="happy:1.0", pose="fixed", blink="off")).normalized_landmarks
    np.testing.assert_allclose(both, full, atol=1e-5)

    r = emotion_response(a, [video, other], {"neutral", "happy", "surprise"})
    assert set(r["per_emotion"]) == {"happy", "surprise"} and "sad" in r["untrained"]
    assert all(r["per_emotion"][e]["monotonic_fraction"] == 1.0 for e in ("happy", "surprise")), r["per_emotion"]
    assert emotion_claim(r).verdict == HOLDS

    class NoEmotion(torch.nn.Module):  # the same network with the emotion input zeroed
        def __init__(self, net):
            super().__init__()
            self.net, self.context, self.args = net, net.context, net.args

        def forward(self, mfcc, source, emotion, *rest, **kw):
            return self.net(mfcc, source, torch.zeros_like(emotion), *rest, **kw)

    cut = Animator(animator.fv2v, NoEmotion(trained_s2l), animator.l2l, None, DEFAULT_EMOTIONS)
    assert emotion_claim(emotion_response(cut, [video, other], {"happy"})).verdict != HOLDS


def test_explorer_widgets_drive_the_pipeline(animator, speech, tmp_path):
    from spacex.animate import explore

    panel = explore.explorer(animator, data.astronaut(), speech[0], tmp_path)
    c = panel.controls
    c["emotion"].value, c["intensity"].value, c["pose"].value, c["blink"].value = "sad", 0.5, "fixed", "off"
    c["gaze"].value, c["gaze_x"].value, c["gaze_y"].value = "set", 0.2, -0.04
    opts = panel.options()
    assert (opts.emotion, opts.pose, opts.blink, opts.gaze) == ("sad:0.5", "fixed", "off", "0.2,-0.04")
    during = []
    real_run = explore.run

    def spy(*args):  # the busy state, as the browser sees it while the render runs
        during.append((panel.button.disabled, panel.button.description, panel.status.value))
        return real_run(*args)

    explore.run = spy
    try:
        panel.animate()
        assert during == [(True, "Rendering...", f"Rendering with {explore.describe(opts)} ...")]
        assert (panel.button.disabled, panel.button.description) == (False, "Animate")
        assert panel.status.value == f"Rendered with {explore.describe(opts)}" and panel.last["options"] == opts
        assert media.probe(tmp_path / "explore.mp4").has_audio
        assert media.probe(tmp_path / "explore.panels.mp4").width == 4 * 256
        c["blink"].value = "soon"  # a bad setting: said in the status line, and the button comes back
        panel.animate()
        assert "Not rendered" in panel.status.value and not panel.button.disabled
    finally:
        explore.run = real_run


def test_command_line_writes_video_intermediates_and_panels(animator, speech, tmp_path):
    """`spacex animate` from checkpoint files (as training writes them) to an mp4 + .npz + side-by-side video;
    a photo without a face exits with status 2 and writes nothing."""
    from skimage import io

    from spacex.cli import main
    from spacex import checkpoint

    runs = tmp_path / "runs"
    for name, net in (("fv2v", animator.fv2v), ("s2l", animator.s2l), ("l2l", animator.l2l),
                      ("posegen", animator.posegen)):
        checkpoint.save(runs / name / "last.pt", {"model_args": net.args.to_dict(), "model": net.state_dict()})
    photo = tmp_path / "photo.png"
    io.imsave(photo, data.astronaut())
    out = tmp_path / "out.mp4"
    threads = torch.get_num_threads()
    try:
        assert main(["animate", str(photo), str(speech[0]), "-o", str(out), "--runs", str(runs), "--quiet",
                     "--emotion", "happy:0.5", "--threads", "1", "--intermediates", "--gaze=-0.1,0.05"]) == 0
    finally:
        torch.set_num_threads(threads)  # the setting is process-wide
    assert media.probe(out).has_audio and "box" in np.load(tmp_path / "out.npz")
    assert np.allclose(np.load(tmp_path / "out.npz")["gaze"], [-0.1, 0.05])  # a negative X, written --gaze=X,Y
    assert media.probe(tmp_path / "out.panels.mp4").width == 4 * 256
    blank = tmp_path / "blank.png"
    io.imsave(blank, np.full((128, 128, 3), 90, np.uint8))
    assert main(["animate", str(blank), str(speech[0]), "-o", str(tmp_path / "no.mp4"), "--runs", str(runs),
                 "--quiet"]) == 2
    assert not (tmp_path / "no.mp4").exists()


def test_gaze_control_reaches_landmarks2latents(speech, tmp_path):
    """Every gaze mode gives the per-frame gaze it names, and Landmarks2Latents sees it (through a gaze input
    with non-zero weights, keypoints differ between looking left and right)."""
    torch.manual_seed(0)
    fv2v = FaceVid2Vid(resolution=32, num_kp=4, base=8, volume_channels=4, depth=4, generator_blocks=1,
                       use_vgg=False).eval()
    l2l = Landmarks2Latents(num_kp=4, landmark_dim=8, audio_dim=8, source_dim=8, hidden=16, gaze_dim=4).eval()
    torch.nn.init.normal_(l2l.head.weight, std=0.1)  # the head starts at zero: make the input visible
    anim = Animator(fv2v, Speech2Landmarks(audio_dim=16, landmark_dim=8, hidden=16).eval(), l2l, None,
                    DEFAULT_EMOTIONS)
    wav, _ = speech
    with pytest.warns(UserWarning, match="no gaze input"):  # a checkpoint without gaze says the control is inert
        Animator(fv2v, Speech2Landmarks(audio_dim=16, landmark_dim=8, hidden=16).eval(),
                 Landmarks2Latents(num_kp=4, landmark_dim=8, audio_dim=8, source_dim=8, hidden=16).eval(), None,
                 DEFAULT_EMOTIONS)(data.astronaut(), wav, AnimateOptions(gaze="left", pose="fixed"))
    run = lambda g, seed=0: anim(data.astronaut(), wav, AnimateOptions(gaze=g, pose="fixed", blink="off",  # noqa: E731
                                                                       pose_seed=seed))
    right, left, photo = run("right"), run("left"), run("photo")
    assert np.allclose(right.gaze, [0.2, 0.0]) and np.allclose(left.gaze, [-0.2, 0.0])
    assert np.allclose(photo.gaze, photo.photo_gaze) and np.abs(photo.photo_gaze).max() < 0.15
    assert np.abs(right.keypoints - left.keypoints).max() > 1e-3
    same = run(f"{photo.photo_gaze[0]},{photo.photo_gaze[1]}")
    assert np.allclose(same.keypoints, photo.keypoints, atol=1e-5)  # 'photo' = no gaze motion
    auto, auto_again, auto_other = run("auto"), run("auto"), run("auto", seed=1)
    assert np.ptp(auto.gaze, 0).max() > 0.02 and np.array_equal(auto.gaze, auto_again.gaze)  # it moves, seeded
    assert not np.array_equal(auto.gaze, auto_other.gaze)
    seq = tmp_path / "gaze.csv"
    np.savetxt(seq, [[0.1, 0.0], [0.0, 0.05]], delimiter=",")
    from_file = run(f"file:{seq}")
    assert np.allclose(from_file.gaze[0], [0.1, 0]) and np.allclose(from_file.gaze[1:], [0, 0.05])  # held
    # The intermediates carry the gaze and the iris centres it puts in the photo's eyes.
    right.frames = None
    p = right.save_intermediates(tmp_path / "r.mp4")
    with np.load(p) as z:
        T = len(right.keypoints)
        assert z["gaze"].shape == (T, 2) and z["iris"].shape == (T, 2, 2)
        eyes = right.posed_landmarks[0, lm.EYE_R, 0]
        assert eyes.min() < z["iris"][0, 0, 0] < eyes.max()
    np.savetxt(seq, [[0.1, 0.0], [0.0, 0.5]], delimiter=",")  # y beyond the eye opening
    for bad, msg in (("sideways", "X,Y"), ("0.9,0", "leave the eye"), ("nan,0", "finite"),
                     (f"file:{tmp_path / 'no.npy'}", "gaze file"), (f"file:{seq}", "leave the eye")):
        with pytest.raises(AnimateError, match=msg):
            run(bad)


def test_checkpoints_carry_their_feature_settings(animator, speech, tmp_path):
    """Inference reads the store's settings from the checkpoints (emotion order, MFCCs, backend, rate), and
    checkpoints trained on different settings are refused with both named."""
    from spacex import checkpoint

    feats = {"backend": "groundtruth", "sample_rate": 16000, "n_mfcc": 40, "n_fft": 512, "n_mels": 64,
             "emotions": list(reversed(DEFAULT_EMOTIONS)), "fps": 30.0}
    runs = tmp_path / "runs"
    for name, net in (("fv2v", animator.fv2v), ("s2l", animator.s2l), ("l2l", animator.l2l)):
        checkpoint.save(runs / name / "last.pt", {"model_args": net.args.to_dict(), "model": net.state_dict(),
                                                   "features": feats})
    anim = Animator.from_runs(runs)
    assert anim.emotions == feats["emotions"] and anim.features["n_fft"] == 512
    assert anim.backend.name == "dlib"  # SynthTalk's exact landmarks: a photo gets the closest real detector
    r = anim(data.astronaut(), speech[0], AnimateOptions(pose="fixed", blink="off"))
    assert len(r.keypoints) > 0 and r.sample_rate == 16000
    with pytest.raises(AnimateError, match="differ from the order"):
        Animator.from_runs(runs, emotions=DEFAULT_EMOTIONS)
    checkpoint.save(runs / "l2l" / "last.pt", {"model_args": animator.l2l.args.to_dict(),
                                               "model": animator.l2l.state_dict(), "features": {**feats, "n_mfcc": 20}})
    with pytest.raises(AnimateError, match=r"(fv2v|s2l)/last.pt was trained with n_mfcc=40 but .*l2l/last.pt with "
                                           r"n_mfcc=20"):
        Animator.from_runs(runs)
