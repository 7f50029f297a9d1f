"""Real text-to-speech with espeak-ng, with per-phoneme timings from the synthesizer's own events.

The library and its voice data ship inside the `espeakng-loader` wheel, so nothing is installed system-wide
and nothing is downloaded. espeak-ng keeps global state, so one process holds one engine (`_Engine.get()`),
and `synthesize` speaks each utterance in a fresh child process so that output is reproducible.

Prosody is varied per emotion with espeak's rate / pitch / range / volume parameters, interpolated from the
neutral setting by the emotion intensity.
"""
from __future__ import annotations

import ctypes
import json
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass

import numpy as np

# espeak-ng speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_WORD, _EVENT_END, _EVENT_MSG_TERMINATED, _EVENT_PHONEME = 1, 5, 6, 7
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """`espeak_EVENT` from speak_lib.h."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms from the start of the utterance
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Prosody:
    """espeak-ng parameters; units are espeak's own."""

    rate: int = 165  # words per minute
    pitch: int = 50  # base pitch, 0-100
    range: int = 50  # pitch range, 0-100 (0 = monotone)
    volume: int = 100  # amplitude, 0-200


# Emotional prosody at intensity 1.0 (hand-set from the acted-speech literature: happy/surprise higher and
# wider pitch, sad slow/low/flat/quiet, angry loud and fast, fear fast and high).
EMOTION_PROSODY: dict[str, Prosody] = {
    "neutral": Prosody(165, 50, 50, 100),
    "happy": Prosody(180, 68, 85, 115),
    "sad": Prosody(130, 35, 15, 75),
    "surprise": Prosody(175, 78, 95, 110),
    "fear": Prosody(195, 72, 60, 85),
    "angry": Prosody(185, 42, 75, 140),
}


def prosody_for(emotion: str, intensity: float, speaker_pitch_shift: int = 0) -> Prosody:
    """Neutral prosody moved towards the emotion's by `intensity` in [0, 1]."""
    n, e = EMOTION_PROSODY["neutral"], EMOTION_PROSODY[emotion]
    mix = lambda a, b: int(round(a + intensity * (b - a)))  # noqa: E731
    return Prosody(
        rate=mix(n.rate, e.rate),
        pitch=int(np.clip(mix(n.pitch, e.pitch) + speaker_pitch_shift, 0, 100)),
        range=mix(n.range, e.range),
        volume=mix(n.volume, e.volume),
    )


@dataclass
class Phoneme:
    symbol: str  # espeak-ng phoneme mnemonic, e.g. "a", "p", "O:", "_:" (pause)
    start: float  # seconds
    end: float  # seconds


@dataclass
class Utterance:
    audio: np.ndarray  # (S,) float32 in [-1, 1]
    sample_rate: int
    phonemes: list[Phoneme]

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


class _Engine:
    _instance: "_Engine | None" = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.libc = ctypes.CDLL(None)
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
        ]
        data = espeakng_loader.get_data_path().encode()
        self.sample_rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_PHONEME_EVENTS)
        if self.sample_rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise with data at {data.decode()}")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[str, int]] = []
        self._callback = _SynthCallback(self._on_synth)  # keep a reference: ctypes does not
        self.lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def get(cls) -> "_Engine":
        with cls._lock:
            if cls._instance is None:
                cls._instance = _Engine()
            return cls._instance

    def _on_synth(self, wav, n, events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.float32) / 32768.0)
        i = 0
        while events[i].type != 0:  # LIST_TERMINATED
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                self._events.append((ev.id.string.decode("utf-8", "replace"), ev.audio_position))
            i += 1
        return 0

    def synthesize(self, text: str, voice: str, prosody: Prosody, seed: int = 0) -> Utterance:
        with self._lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {voice!r}")
            for param, value in ((_RATE, prosody.rate), (_PITCH, prosody.pitch),
                                 (_RANGE, prosody.range), (_VOLUME, prosody.volume)):
                self.lib.espeak_SetParameter(param, int(value), 0)
            # Breath noise draws on espeak's own generator and on libc rand(): reseed both so an utterance
            # depends only on its inputs.
            self.lib.espeak_ng_SetRandSeed(ctypes.c_long(seed))
            self.libc.srand(ctypes.c_uint(seed))
            self._chunks, self._events = [], []
            buf = text.encode("utf-8") + b"\0"
            rc = self.lib.espeak_Synth(buf, len(buf), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            self.lib.espeak_Synchronize()
            if rc != 0:
                raise RuntimeError(f"espeak_Synth failed ({rc}) for {text!r}")
            audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)
            events = list(self._events)
        duration = len(audio) / self.sample_rate
        phonemes = []
        for k, (sym, ms) in enumerate(events):
            start = ms / 1000.0
            end = events[k + 1][1] / 1000.0 if k + 1 < len(events) else duration
            if end > start:
                phonemes.append(Phoneme(sym, start, min(end, duration)))
        return Utterance(audio, self.sample_rate, phonemes)


def synthesize(text: str, voice: str = "en-us", prosody: Prosody = Prosody(), seed: int = 0,
               isolated: bool = True) -> Utterance:
    """Speak `text` with an espeak-ng voice (e.g. "en-us+m3"); returns audio and phoneme timings.

    espeak-ng keeps synthesis state (oscillator phases, pitch history) across utterances in a process, so
    the same call twice in one process gives different samples. With `isolated` (the default) each
    utterance is spoken by a fresh interpreter (~0.1 s), which makes the output a pure function of the
    arguments; `seed` feeds the breath noise of breathy voice variants.
    """
    if not isolated:
        return _Engine.get().synthesize(text, voice, prosody, seed)
    request = json.dumps({"text": text, "voice": voice, "prosody": asdict(prosody), "seed": seed})
    proc = subprocess.run([sys.executable, "-m", __name__], input=request.encode(), capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"espeak-ng worker failed: {proc.stderr.decode(errors='replace').strip()[-2000:]}")
    header, _, payload = proc.stdout.partition(b"\n")
    info = json.loads(header)
    audio = np.frombuffer(payload, dtype=np.float32, count=info["samples"]).copy()
    return Utterance(audio, info["sample_rate"], [Phoneme(*p) for p in info["phonemes"]])


def _serve_one() -> None:
    """Child side of `synthesize(isolated=True)`: one request on stdin, header line + float32 PCM on stdout."""
    req = json.loads(sys.stdin.buffer.read())
    utt = _Engine.get().synthesize(req["text"], req["voice"], Prosody(**req["prosody"]), req["seed"])
    header = {"sample_rate": utt.sample_rate, "samples": len(utt.audio),
              "phonemes": [[p.symbol, p.start, p.end] for p in utt.phonemes]}
    sys.stdout.buffer.write(json.dumps(header).encode() + b"\n" + utt.audio.astype(np.float32).tobytes())
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    _serve_one()
