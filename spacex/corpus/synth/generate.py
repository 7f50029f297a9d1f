"""SynthTalk: an embedded talking-head corpus with exact per-frame ground truth.

    spacex corpus synth --out data/synthtalk            # the smoke profile's settings
    spacex corpus synth --out /tmp/st --seed 3 --resolution 256 --portraits my_faces/

Clip = real espeak-ng speech of a sentence + a parametric face animated by that speech's phoneme timings +
a real portrait warped to the posed landmarks. Splits: identities are split train / test; sentences are
split train / val / test. train = train identities x train sentences, val = train identities x val
sentences, test = held-out identities x test sentences. Everything is a function of the seed (each clip
has its own random stream, so the result does not depend on the number of workers).
"""
from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from spacex import gaze
from spacex import landmarks as lm
from spacex import media, tts
from spacex.config import SynthConfig
from spacex.corpus import clip as clipfmt
from spacex.corpus.qc import mouth_energy_correlation
from spacex.corpus.synth import face, render
from spacex.corpus.synth.sentences import SENTENCES

GENERATOR = "synthtalk-2"  # 2: drawn irises that move with a gaze track


@dataclass
class IdentitySpec:
    name: str
    split: str  # "train" (train/val clips) or "test"
    voice: str
    pitch_shift: int
    identity: face.Identity
    source: np.ndarray  # (H, W, 3) float
    source_landmarks: np.ndarray  # (68, 2)
    base_centre: np.ndarray  # (2,) pixels, ear midpoint in the source
    base_scale: float  # pixels per normalized unit
    base_roll: float  # degrees
    source_forehead: np.ndarray  # (6, 2)
    portrait: str


@dataclass
class ClipSpec:
    index: int
    clip_id: str
    split: str
    identity: IdentitySpec
    text: str
    emotion: str
    intensity: float


def make_identities(cfg: SynthConfig) -> list[IdentitySpec]:
    portraits = render.default_portraits(cfg.resolution, cfg.portraits)
    specs = []
    for i in range(cfg.identities):
        rng = np.random.default_rng([cfg.seed, 1, i])
        portrait = portraits[i % len(portraits)]
        appearance = render.random_appearance(portrait, rng, vary=i >= len(portraits))
        source, src_pts = appearance.source()
        ident = face.make_identity(src_pts, rng, vary=i >= len(portraits))
        src_norm, centre, scale, roll = face.normalize_2d(src_pts)
        src_norm3 = np.concatenate([src_norm, face.template_depth(src_norm)[:, None]], 1)
        src_fore = render.forehead_points(src_norm3)[None]  # (1, 6, 3)
        src_fore = lm.pose_landmarks(src_fore, np.array([[0, 0, roll]]), centre[None], np.array([scale]))[0, :, :2]
        specs.append(IdentitySpec(
            name=f"id{i:02d}", split="test" if i >= cfg.identities - cfg.test_identities else "train",
            voice=cfg.voices[i % len(cfg.voices)], pitch_shift=int(rng.integers(-8, 9)), identity=ident,
            source=source, source_landmarks=src_pts, base_centre=centre, base_scale=scale, base_roll=roll,
            source_forehead=src_fore, portrait=portrait.name,
        ))
    return specs


def plan_clips(cfg: SynthConfig, identities: list[IdentitySpec]) -> list[ClipSpec]:
    rng = np.random.default_rng([cfg.seed, 2])
    order = rng.permutation(len(SENTENCES))
    n_val = n_test = max(2, len(SENTENCES) * 15 // 100)
    pools = {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
    train_ids = [s for s in identities if s.split == "train"]
    test_ids = [s for s in identities if s.split == "test"]
    if not train_ids or (cfg.clips_test and not test_ids):
        raise ValueError("need at least one train identity and, for a test split, one held-out identity")
    clips = []
    for split, n, people in (("train", cfg.clips_train, train_ids), ("val", cfg.clips_val, train_ids),
                             ("test", cfg.clips_test, test_ids)):
        for k in range(n):
            who = people[k % len(people)]
            sentence = SENTENCES[pools[split][rng.integers(len(pools[split]))]]
            emotion = face.EMOTIONS[rng.integers(len(face.EMOTIONS))]
            intensity = 1.0 if emotion == "neutral" else float(rng.choice([0.5, 1.0]))
            idx = len(clips)
            clips.append(ClipSpec(idx, f"{split}_{who.name}_{k:03d}", split, who, sentence, emotion, intensity))
    return clips


def render_clip(cfg: SynthConfig, spec: ClipSpec, root: Path) -> tuple[clipfmt.ClipMeta, float]:
    """Synthesize, animate, render and write one clip; returns its metadata and mouth/energy r."""
    rng = np.random.default_rng([cfg.seed, 3, spec.index])
    who = spec.identity
    prosody = tts.prosody_for(spec.emotion, spec.intensity, who.pitch_shift)
    utt = tts.synthesize(spec.text, who.voice, prosody, seed=int(rng.integers(2**31)))
    audio = media.resample_audio(utt.audio, utt.sample_rate, cfg.sample_rate)
    lead = cfg.silence_s
    n_frames = int(np.ceil((len(audio) / cfg.sample_rate + 2 * lead) * cfg.fps))
    n_samples = n_frames * cfg.sample_rate // cfg.fps  # exact: sample_rate is a multiple of fps
    audio = np.pad(audio, (int(lead * cfg.sample_rate), 0))[:n_samples]
    audio = np.pad(audio, (0, n_samples - len(audio))).astype(np.float32)
    phonemes = [(p.symbol, p.start + lead, p.end + lead) for p in utt.phonemes]

    motion = face.animate(who.identity, phonemes, n_frames, cfg.fps, spec.emotion, spec.intensity, rng)
    rotation = motion.rotation + np.array([0.0, 0.0, who.base_roll])
    scale = np.full(n_frames, who.base_scale) * (1 + 0.02 * face.smooth_noise(n_frames, cfg.fps, rng, 1.0, 1.0))
    translation = who.base_centre[None] + motion.translation * who.base_scale
    posed = lm.pose_landmarks(motion.norm, rotation, translation, scale)  # (T, 68, 3) pixels
    fore_norm = np.repeat(render.forehead_points(who.identity.neutral)[None], n_frames, 0)
    fore = lm.pose_landmarks(fore_norm, rotation, translation, scale)[..., :2]  # (T, 6, 2)

    iris = gaze.iris_points(posed[..., :2], motion.gaze)  # (T, 2, 2) pixels: the gaze convention, exactly
    renderer = render.Renderer(who.source, who.source_landmarks, who.source_forehead)
    frames = (renderer.render(posed[t, :, :2], fore[t], iris[t]) for t in range(n_frames))
    paths = clipfmt.clip_paths(root, spec.clip_id)
    media.write_video(paths["video"], frames, cfg.fps, audio, cfg.sample_rate, crf=cfg.crf)
    clipfmt.write_groundtruth(root, spec.clip_id, {
        "landmarks": posed, "landmarks_norm": motion.norm, "rotation": rotation, "translation": translation,
        "scale": scale, "eye_closure": motion.closure, "visemes": motion.visemes,
        "gaze": motion.gaze, "iris": iris,
    })
    r = mouth_energy_correlation(motion.norm, audio, cfg.sample_rate, cfg.fps)
    meta = clipfmt.ClipMeta(
        clip_id=spec.clip_id, split=spec.split, dataset="synthtalk", speaker=f"{who.voice}~{who.pitch_shift:+d}",
        identity=who.name, emotion=spec.emotion, intensity=spec.intensity, n_frames=n_frames, fps=cfg.fps,
        sample_rate=cfg.sample_rate, width=cfg.resolution, height=cfg.resolution, text=spec.text,
        has_groundtruth=True,
        extra={
            "phonemes": [[s, round(a, 4), round(b, 4)] for s, a, b in phonemes],
            "blinks": [[round(a, 4), round(b, 4)] for a, b in motion.blinks],
            "voice": who.voice, "prosody": asdict(prosody), "portrait": who.portrait,
            "mouth_energy_r": round(r, 4), "generator": GENERATOR,
        },
    )
    clipfmt.write_meta(root, meta)
    return meta, r


def _init_worker() -> None:
    # One BLAS/OpenMP thread per process: with N processes on N cores, more threads only contend.
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _worker(args):
    cfg, spec, root = args
    return render_clip(cfg, spec, root)


def generate(cfg: SynthConfig, out: str | Path, progress: bool = True) -> dict:
    """Write a SynthTalk corpus to `out`; returns the summary (also in out/corpus.json)."""
    if cfg.resolution % 2:
        raise ValueError("resolution must be even (H.264 4:2:0)")
    if cfg.sample_rate % cfg.fps:
        raise ValueError("sample_rate must be a multiple of fps (whole samples per frame)")
    t0 = time.time()
    root = Path(out)
    (root / "clips").mkdir(parents=True, exist_ok=True)
    identities = make_identities(cfg)
    plan = plan_clips(cfg, identities)
    jobs = [(cfg, spec, root) for spec in plan]
    if cfg.workers > 1:
        # spawn, not fork: a forked BLAS thread pool can spin for minutes in the children.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(cfg.workers, mp_context=ctx, initializer=_init_worker) as pool:
            results = list(tqdm(pool.map(_worker, jobs), total=len(jobs), disable=not progress, desc="synth"))
    else:
        results = [_worker(j) for j in tqdm(jobs, disable=not progress, desc="synth")]
    metas = [m for m, _ in results]
    rs = np.array([r for _, r in results])
    clipfmt.write_manifest(root, metas)
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    summary = {
        "generator": GENERATOR,
        "config": {k: v for k, v in asdict(cfg).items() if k != "workers"},  # workers do not change the output
        "clips": len(metas),
        "splits": {s: sum(m.split == s for m in metas) for s in clipfmt.SPLITS},
        "frames": int(sum(m.n_frames for m in metas)),
        "seconds_of_video": round(sum(m.duration for m in metas), 2),
        "mouth_energy_r_median": round(float(np.median(rs)), 4),
        "mouth_energy_r_min": round(float(rs.min()), 4),
        "size_mb": round(size / 1e6, 2),
        "ground_truth_arrays": clipfmt.GROUND_TRUTH_ARRAYS,
    }
    clipfmt.write_corpus_info(root, summary)  # deterministic: no timings in the file
    return {**summary, "generation_s": round(time.time() - t0, 1)}
