"""Baseline adapters run against stand-ins of the official CLIs (tests/standins): the same command lines, files
and outputs, in fake clones laid out like the real ones. Each must give a 25 fps mp4 with the speech, in the
photo's framing, and leave the user's clone untouched."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from spacex import media
from spacex.corpus import clip as clipfmt
from spacex.evaluate.baselines import (PCAVS, BaselineError, FolderMethod, MakeItTalk, MakeItTalkConfig,
                                       PCAVSConfig, Wav2Lip, Wav2LipConfig)
from spacex.evaluate.protocol import Protocol
from standins import repos
from standins._common import decode_index

PY = sys.executable  # the stand-ins' "own environment"


@pytest.fixture(scope="module")
def inputs(small_corpus, tmp_path_factory):
    """A real portrait (the first frame of a corpus clip, 128 px) and real speech: 1.0 s and 0.8 s wavs at 48 kHz."""
    row = next(r for r in clipfmt.read_manifest(small_corpus) if r["split"] == "test")
    video = clipfmt.clip_paths(small_corpus, row["clip_id"])["video"]
    frames, _ = media.read_frames(video)
    audio, sr = media.read_audio(video)
    d = tmp_path_factory.mktemp("inputs.v1")  # a '.' in the path: Wav2Lip's image check must survive it
    long = media.write_wav(d / "speech.long.wav", audio[: sr], sr)
    short = media.write_wav(d / "speech.short.wav", audio[: int(0.8 * sr)], sr)
    return frames[0], long, short


def _check_protocol_mp4(out, speech_wav):
    info = media.probe(out)
    speech = media.audio_duration(speech_wav)
    assert info.fps == 25 and info.has_audio and info.sample_rate == 16000 and info.channels == 1
    assert abs(info.n_frames / 25 - speech) <= 1 / 25  # duration matches the speech within one frame
    assert abs(info.audio_duration - speech) <= 1 / 25
    return info, json.loads(out.with_suffix(".json").read_text())


def test_wav2lip(tmp_path, inputs):
    photo, speech, _ = inputs
    repo = repos.wav2lip_repo(tmp_path)
    before = repos.tree(repo)
    a = Wav2Lip(Wav2LipConfig(repo=str(repo), python=PY, env=repos.baseline_env(tmp_path)))
    assert a.check() == []
    out = a.render(photo, speech, tmp_path / "out" / "clip.mp4", tmp_path / "work.dir")
    info, rec = _check_protocol_mp4(out, speech)
    frames, _ = media.read_frames(out)
    assert frames.shape[1:3] == photo.shape[:2]  # the full frame
    n_gen = rec["frames_in"]
    assert 0 < n_gen < info.n_frames  # Wav2Lip stops ~0.2 s early ...
    assert [decode_index(f) for f in frames] == list(range(n_gen)) + [n_gen - 1] * (info.n_frames - n_gen)
    assert rec["repeated_tail"] == info.n_frames - n_gen  # ... and its last frame is repeated
    assert rec["checkpoints"]["checkpoints/wav2lip_gan.pth"]["bytes"] == len(b"fake checkpoint")
    assert "--pads" in rec["commands"][0] and "temp/face.png" in rec["commands"][0]
    assert repos.tree(repo) == before  # temp/ and everything else in the clone untouched


def test_makeittalk_middle_panel_and_user_files(tmp_path, inputs):
    photo, speech, _ = inputs
    repo = repos.makeittalk_repo(tmp_path)
    before = repos.tree(repo)
    a = MakeItTalk(MakeItTalkConfig(repo=str(repo), python=PY, env=repos.baseline_env(tmp_path)))
    assert a.check() == []
    out = a.render(photo, speech, tmp_path / "out" / "clip.mp4", tmp_path / "work")
    info, rec = _check_protocol_mp4(out, speech)
    frames, _ = media.read_frames(out)
    # 62.5 -> 25 fps by nearest time (ties to the earlier frame): output k shows input frame floor(2.5 k)
    assert [decode_index(f) for f in frames] == [int(np.floor(2.5 * k)) for k in range(info.n_frames)]
    # the middle panel: the photo itself, not the red-tinted input panel nor the white landmark panel
    body = frames[:, 16:].astype(float)  # below the index bits
    ref = photo[16:].astype(float)
    assert np.abs(body - ref).mean() < 6
    assert abs(body[..., 1].mean() / body[..., 0].mean() - ref[..., 1].mean() / ref[..., 0].mean()) < 0.03
    assert repos.tree(repo) == before  # the user's examples/M6_04_16k.wav was neither processed nor overwritten
    work_examples = tmp_path / "work" / "makeittalk" / "repo" / "examples"
    assert sorted(p.name for p in work_examples.glob("*_pred_fls_*.mp4")) == \
        ["spacexface_pred_fls_spacexspeech_audio_embed.mp4"]  # only our wav was seen


def _pcavs_index(frame, photo, step=0.04):
    """The stand-in darkens its frame for source frame i by (1 - step * i): read i back in the face region."""
    y, x = slice(40, 90), slice(40, 90)
    p = photo[y, x].astype(float)
    m = p > 40
    return int(round((1 - np.median(frame[y, x].astype(float)[m] / p[m])) / step))


def test_pcavs_offset_and_paste_back(tmp_path, inputs):
    photo, _, speech = inputs
    repo = repos.pcavs_repo(tmp_path)
    before = repos.tree(repo)
    a = PCAVS(PCAVSConfig(repo=str(repo), python=PY, env=repos.baseline_env(tmp_path)))
    assert a.check() == []
    out = a.render(photo, speech, tmp_path / "out" / "clip.mp4", tmp_path / "work")
    info, rec = _check_protocol_mp4(out, speech)
    frames, _ = media.read_frames(out)
    assert frames.shape[1:3] == photo.shape[:2]  # pasted back into the photo's framing
    n_gen = rec["frames_in"]  # generated for source frames 2 .. n_gen + 1
    got = [_pcavs_index(f, photo) for f in frames]
    want = [min(max(t, 2), n_gen + 1) for t in range(info.n_frames)]  # offset 2: output frame t shows source t
    assert got == want
    assert rec["offset_applied"] == 2
    # outside the pasted crop the photo is untouched; inside, the face lines up with the photo's
    assert np.abs(frames[:, :, :4].astype(int) - photo[:, :4]).mean() < 4
    face = frames[2, 40:90, 40:90].astype(float) / (1 - 0.04 * 2)
    err = {(dy, dx): np.abs(face - photo[40 + dy:90 + dy, 40 + dx:90 + dx]).mean()
           for dy in (-2, -1, 0, 1, 2) for dx in (-2, -1, 0, 1, 2)}
    best = min(err, key=err.get)  # registration by MTCNN's 5 points is good to about a pixel
    assert max(abs(best[0]), abs(best[1])) <= 1, err
    assert repos.tree(repo) == before  # results/ and misc/demo.csv untouched


def test_check_lists_what_is_missing(tmp_path, monkeypatch):
    repo = repos.pcavs_repo(tmp_path)
    (repo / "checkpoints/demo/latest_net_V.pth").unlink()
    problems = PCAVS(PCAVSConfig(repo=str(repo), python=PY, env=repos.baseline_env(tmp_path))).check()
    assert problems == [f"pcavs: checkpoint latest_net_V.pth missing: expected at {repo}/checkpoints/demo/latest_net_V.pth"]

    repo = repos.makeittalk_repo(tmp_path)
    (repo / "examples/dump/emb.pickle").unlink()
    (repo / "examples/ckpt/ckpt_autovc.pth").unlink()
    problems = MakeItTalk(MakeItTalkConfig(repo=str(repo), python="/no/such/python", env=repos.baseline_env(tmp_path))).check()
    assert len(problems) == 3
    assert f"expected at {repo}/examples/ckpt/ckpt_autovc.pth" in problems[0]
    assert "emb.pickle" in problems[1] and "interpreter '/no/such/python'" in problems[2]

    # what the official code would fetch or call at run time is named before any inference: the weight file with
    # the cache path it is looked for at, and ffmpeg
    env = repos.baseline_env(tmp_path / "bare")
    (tmp_path / "bare" / "torch" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth").unlink()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no ffmpeg on our PATH, none in the config's
    env.pop("PATH")
    problems = PCAVS(PCAVSConfig(repo=str(repos.pcavs_repo(tmp_path / "p2")), python=PY, env=env)).check()
    assert len(problems) == 2 and "ffmpeg not found on PATH" in problems[0], problems
    assert f"vgg19-dcbb9e9d.pth missing: expected at {tmp_path}/bare/torch/hub/checkpoints/vgg19" in problems[1]

    problems = Wav2Lip(Wav2LipConfig(repo=str(tmp_path / "nowhere"), python=PY)).check()
    assert "does not exist (clone https://github.com/Rudrabha/Wav2Lip)" in problems[0]
    assert any("wav2lip_gan.pth" in p for p in problems) and any("s3fd.pth" in p for p in problems)
    with pytest.raises(BaselineError, match="cannot run"):
        Wav2Lip(Wav2LipConfig(repo=str(tmp_path / "nowhere"), python=PY)).render(
            np.zeros((64, 64, 3), np.uint8), "x.wav", tmp_path / "o.mp4", tmp_path / "w")


def test_failing_cli_reports_its_stderr(tmp_path, inputs):
    photo, speech, _ = inputs
    repo = repos.wav2lip_repo(tmp_path)
    (repo / "checkpoints/wav2lip_gan.pth").write_bytes(b"corrupt download")
    a = Wav2Lip(Wav2LipConfig(repo=str(repo), python=PY, env=repos.baseline_env(tmp_path)))
    with pytest.raises(BaselineError, match="exited with 1") as e:
        a.render(photo, speech, tmp_path / "o.mp4", tmp_path / "w")
    assert "PytorchStreamReader failed reading zip archive" in str(e.value)
    assert not (tmp_path / "o.mp4").exists()


def test_cli_that_fails_silently(tmp_path, inputs):
    """PC-AVS prints the exception of a csv line and exits 0: no frames is the error, with its output."""
    photo, _, speech = inputs
    repo = repos.pcavs_repo(tmp_path)
    (repo / "inference.py").write_text("import traceback\ntry:\n    raise RuntimeError('CUDA error: no kernel image')\n"
                                       "except Exception:\n    traceback.print_exc()\n")
    with pytest.raises(BaselineError, match="exited 0 but wrote no G_Pose_Driven_") as e:
        PCAVS(PCAVSConfig(repo=str(repo), python=PY, env=repos.baseline_env(tmp_path))).render(photo, speech, tmp_path / "o.mp4", tmp_path / "w")
    assert "CUDA error: no kernel image" in str(e.value)


def test_folder_method(tmp_path, inputs):
    photo, speech, _ = inputs
    frames = np.repeat(photo[None], 10, 0)
    media.write_video(tmp_path / "renders" / "a" / "out.mp4", frames, 25, *media.read_audio(speech))
    media.write_video(tmp_path / "renders" / "b" / "out.mp4", frames, 25)  # frames only: speech beside it
    media.write_wav(tmp_path / "renders" / "b" / "speech.wav", *media.read_audio(speech))
    m = FolderMethod(tmp_path / "renders", pattern="{clip_id}/out.mp4", offset=2)
    assert m.check() == [] and m.missing(["a", "b", "c"]) == ["c"]
    assert set(m.files(["a", "b", "c"])) == {"a", "b"}
    ev = m.load("a", Protocol(), None)
    assert ev.frames.shape == (10, 128, 128, 3) and ev.sample_rate == 16000
    speaking = FolderMethod(tmp_path / "renders", pattern="{clip_id}/out.mp4", audio="{clip_id}/speech.wav")
    assert speaking.missing(["a", "b"]) == ["a"]  # a has no speech file beside it
    assert len(speaking.load("b", Protocol(), None).audio) > 0
    with pytest.raises(ValueError, match="clip_id"):
        FolderMethod(tmp_path, pattern="out.mp4")
    assert FolderMethod(tmp_path / "nope").check() == [f"nope: folder {tmp_path / 'nope'} does not exist"]


def test_pcavs_raw_crops_with_another_offset(tmp_path, inputs):
    """paste_back=False keeps PC-AVS's 224 crops; offset=0 places generated frame j at output frame j."""
    photo, _, speech = inputs
    a = PCAVS(PCAVSConfig(repo=str(repos.pcavs_repo(tmp_path)), python=PY, offset=0, paste_back=False,
                          env=repos.baseline_env(tmp_path)))
    out = a.render(photo, speech, tmp_path / "o.mp4", tmp_path / "w")
    info, rec = _check_protocol_mp4(out, speech)
    frames, _ = media.read_frames(out)
    assert frames.shape[1:3] == (224, 224)
    level = frames[:, 60:160, 60:160].astype(float).mean((1, 2, 3))  # the stand-in darkens source frame i by 1 - 0.04 i
    source = [min(t, rec["frames_in"] - 1) + 2 for t in range(info.n_frames)]  # output t shows generated t = source t + 2
    got = np.round((1 - level / level[0] * (1 - 0.04 * 2)) / 0.04).astype(int)  # output frame 0 shows source 2
    assert got.tolist() == source


CPU_ROUTE_PROBE = """
import sys
sys.path.insert(0, sys.argv[1])  # a stand-in face_alignment package
import torch
import face_alignment
t = torch.zeros(2).cuda()
m = torch.nn.Linear(2, 2).cuda()
torch.cuda.set_device(0)
torch.save({"w": torch.ones(1)}, sys.argv[2])
print(t.device, next(m.parameters()).device, torch.load(sys.argv[2])["w"].item(),
      face_alignment.FaceAlignment(1, device="cuda").device, face_alignment.FaceAlignment(1, device="cpu").device)
"""


def _no_gpu() -> dict:
    """Our environment with the GPU hidden (the CPU route is what these tests exercise, also on a GPU machine)."""
    import os

    return {**os.environ, "CUDA_VISIBLE_DEVICES": ""}


def test_cpu_route_maps_cuda_calls_to_the_cpu(tmp_path):
    """The shim the kit puts on a baseline's PYTHONPATH when its torch sees no GPU: the official code's unconditional
    .cuda(), set_device, torch.load without map_location and FaceAlignment(device='cuda') run on the CPU."""
    import os
    import subprocess

    from spacex.evaluate.baselines.base import CPU_ROUTE

    fa = tmp_path / "site" / "face_alignment"
    fa.mkdir(parents=True)
    (fa / "__init__.py").write_text("class FaceAlignment:\n    def __init__(self, kind, device='cuda'):\n"
                                    "        self.device = device\n")
    env = {**_no_gpu(), "PYTHONPATH": str(CPU_ROUTE)}
    run = subprocess.run([PY, "-c", CPU_ROUTE_PROBE, str(tmp_path / "site"), str(tmp_path / "w.pt")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["cpu", "cpu", "1.0", "cpu", "cpu"]
    assert "spacex cpu route: no GPU" in run.stderr  # the run's log says the route was taken
    # without the route the same calls fail on this machine (so the test can fail)
    bare = subprocess.run([PY, "-c", "import torch; torch.zeros(1).cuda()"], capture_output=True, text=True,
                          env={k: v for k, v in _no_gpu().items() if k != "PYTHONPATH"}, timeout=300)
    assert bare.returncode != 0


def _venv(root):
    """A baseline environment as `spacex baselines setup` leaves it: bin/python (here a wrapper of ours) and
    bin/ffmpeg (a stub), nowhere on our PATH."""
    bin_dir = root / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{PY}" "$@"\n')
    (bin_dir / "ffmpeg").write_text("#!/bin/sh\nexit 0\n")
    for f in ("python", "ffmpeg"):
        (bin_dir / f).chmod(0o755)
    return bin_dir / "python"


def test_pcavs_on_the_cpu_route_from_its_venv(tmp_path, inputs):
    """With the interpreter of a venv: its bin/ (ffmpeg) comes first on the CLI's PATH; with no GPU PC-AVS gets
    --gpu_ids -1 (no set_device, no net.cuda()) and the CPU route; the JSON records the device and CLI seconds."""
    photo, _, speech = inputs
    env = {**repos.baseline_env(tmp_path), "CUDA_VISIBLE_DEVICES": ""}  # the probe asks in the CLI's environment
    env.pop("PATH")  # no ffmpeg on our PATH: only the venv's
    a = PCAVS(PCAVSConfig(repo=str(repos.pcavs_repo(tmp_path)), python=str(_venv(tmp_path)), env=env))
    assert a.check() == [] and a.device() == "cpu"
    assert a.cli_env()["PATH"].split(":")[0] == str(tmp_path / "venv" / "bin")
    out = a.render(photo, speech, tmp_path / "o.mp4", tmp_path / "w")
    rec = json.loads(out.with_suffix(".json").read_text())
    inference = rec["commands"][1]
    assert inference[0] == str(tmp_path / "venv" / "bin" / "python")
    assert inference[inference.index("--gpu_ids", inference.index("--gpu_ids") + 1) + 1] == "-1"  # after demo_vox's 0
    assert rec["device"] == "cpu" and rec["seconds"] > 0
    forced = PCAVS(PCAVSConfig(repo=str(repos.pcavs_repo(tmp_path / "g")), python=PY, device="cuda"))
    assert forced.device() == "cuda" and "PYTHONPATH" not in forced.cli_env()
    # the config's PATH and PYTHONPATH go in front of ours and the route's place, not instead of them
    extra = PCAVS(PCAVSConfig(repo=str(repos.pcavs_repo(tmp_path / "h")), python=str(_venv(tmp_path / "h")),
                              env={"PATH": "/opt/ffmpeg/bin", "PYTHONPATH": "/opt/extra", "CUDA_VISIBLE_DEVICES": ""}))
    assert extra.cli_env()["PATH"].split(":")[:2] == ["/opt/ffmpeg/bin", str(tmp_path / "h" / "venv" / "bin")]
    assert extra.cli_env()["PYTHONPATH"].split(":") == ["/opt/extra", str(a.cli_env()["PYTHONPATH"])]
    with pytest.raises(BaselineError, match="one of auto, cpu, cuda"):
        PCAVS(PCAVSConfig(repo=str(repos.pcavs_repo(tmp_path / "i")), python=PY, device="gpu")).device()
    from spacex.cli import build_parser
    from spacex.evaluate.baselines import ADAPTERS, envs

    choices = next(a for a in build_parser()._subparsers._group_actions[0].choices["baselines"]._actions
                   if a.dest == "name").choices
    assert list(choices) == list(ADAPTERS) == list(envs.SPECS)


def test_setup_builds_the_environment_it_names(tmp_path, monkeypatch):
    """`spacex baselines setup`: one pip resolve with the kit's own torch pins and the spec; lws from source with its
    Cython switch; the placeholder module; ffmpeg linked into bin/; a record of what was installed."""
    from importlib import metadata

    from spacex.evaluate.baselines import envs

    calls = []
    site = tmp_path / "site"
    site.mkdir()
    (tmp_path / "ffmpeg-bin").write_text("")

    def fake_call(cmd, env=None):
        calls.append((cmd, env))
        code = cmd[-1] if cmd[1:2] == ["-c"] else ""
        if "purelib" in code:
            return f"{site}\n"
        if "imageio_ffmpeg" in code:
            return f"{tmp_path / 'ffmpeg-bin'}\n"
        if "sys.version" in code:
            return "3.11.7\n"
        if cmd[-1] == "--disable-pip-version-check" and "freeze" in cmd:
            return "torch==2.14.1\nlws==1.2.8\n"
        if cmd[1:3] == ["-m", "venv"]:
            (Path(cmd[3]) / "bin").mkdir(parents=True)
            (Path(cmd[3]) / "bin" / "python").write_text("")
        return ""

    monkeypatch.setattr(envs, "_call", fake_call)
    monkeypatch.setattr(envs, "_imports", lambda py, module: False)  # no lws yet
    venv = tmp_path / "pcavs-venv"
    py = envs.setup("pcavs", venv, log=lambda *_: None)
    assert py == venv / "bin" / "python"
    pip = next(c for c, _ in calls if c[1:4] == ["-m", "pip", "install"] and "librosa==0.9.2" in c)
    assert f"torch=={metadata.version('torch')}" in pip and "face-alignment==1.3.4" in pip and "numpy<2" in pip
    lws = next((c, e) for c, e in calls if "lws==1.2.8" in c)
    assert "--no-binary" in lws[0] and lws[1]["LWS_USE_CYTHON"] == "1"
    assert (venv / "bin" / "ffmpeg").resolve() == (tmp_path / "ffmpeg-bin").resolve()
    record = json.loads((venv / envs.ENV_RECORD).read_text())
    assert record["baseline"] == "pcavs" and "lws==1.2.8" in record["freeze"]

    envs.setup("makeittalk", tmp_path / "mit", log=lambda *_: None)
    import importlib.util

    spec = importlib.util.spec_from_file_location("pn", site / "pynormalize" / "pynormalize.py")
    placeholder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(placeholder)
    with pytest.raises(NotImplementedError, match="placeholder"):
        placeholder.process_files([], -20.0, ".")
    with pytest.raises(envs.SetupError, match="unknown baseline"):
        envs.setup("sadtalker", tmp_path / "x")
