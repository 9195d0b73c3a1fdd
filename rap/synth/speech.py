"""Speech with known phoneme timings, from espeak-ng (bundled by the `espeakng-loader` wheel).

Why espeak: it runs offline, ships dozens of voices and reports every phoneme with its audio
position, so the synthetic world knows exactly when each sound is spoken.

The C library is driven through ctypes in synchronous mode: `espeak_Synth` calls our callback
with chunks of 16-bit PCM (22050 Hz) and a list of `espeak_EVENT`s terminated by an event of
type 0. Layout of `espeak_EVENT` (speak_lib.h), checked against the events we receive:

    int type; unsigned int unique_identifier; int text_position; int length;
    int audio_position /* ms */; int sample; void *user_data;
    union { int number; const char *name; char string[8]; } id;

Event types used: 1 = word, 2 = sentence, 5 = end, 6 = message terminated, 7 = phoneme
(`id.string` holds the IPA name when initialised with option 0x2).
"""

from __future__ import annotations

import ctypes
import os
import pickle
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rap.media.audio import SAMPLE_RATE, resample
from rap.synth.phonemes import PhonemeTable

ESPEAK_RATE = 22050
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x1
INITIALIZE_PHONEME_IPA = 0x2
EVENT_LIST_TERMINATED, EVENT_WORD, EVENT_SENTENCE, EVENT_END, EVENT_MSG_TERMINATED, EVENT_PHONEME = 0, 1, 2, 5, 6, 7
PARAM_RATE, PARAM_VOLUME, PARAM_PITCH, PARAM_RANGE = 1, 2, 3, 4
CHARS_UTF8 = 1
POS_CHARACTER = 1

# English voices (the sentences are English) and the voice variants shipped in voices/!v.
ENGLISH_VOICES = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
VARIANTS = (
    "", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt3",
    "klatt4", "Andy", "Annie", "Denis", "Gene", "Lee", "Mike", "Reed", "adam", "anika", "aunty", "belinda",
    "benjamin", "caleb", "david", "ed", "edward", "grandpa", "ian", "john", "linda", "max", "michel",
    "norbert", "paul", "quincy", "rob", "robert", "shelby", "steph", "travis", "iven", "boris", "Alicia",
)


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class EspeakEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(EspeakEvent))

_LOCK = threading.RLock()  # libespeak-ng keeps global state: one synthesis at a time per process.


@dataclass(frozen=True)
class Voice:
    """An espeak voice: language voice + variant, speaking rate (words/min) and pitch (0-99)."""

    name: str = "en-us"
    variant: str = ""
    rate: int = 160
    pitch: int = 50
    pitch_range: int = 50

    @property
    def espeak_name(self) -> str:
        return f"{self.name}+{self.variant}" if self.variant else self.name

    @staticmethod
    def sample(rng: np.random.Generator) -> "Voice":
        return Voice(
            name=str(rng.choice(ENGLISH_VOICES)),
            variant=str(rng.choice(VARIANTS)),
            rate=int(rng.integers(125, 200)),
            pitch=int(rng.integers(25, 80)),
            pitch_range=int(rng.integers(30, 80)),
        )


@dataclass
class Utterance:
    text: str
    voice: Voice
    audio: np.ndarray  # float32 mono at 16 kHz
    phonemes: PhonemeTable  # IPA phonemes with start/end seconds
    words: list[tuple[float, int, int]]  # (start seconds, text position, length) per word

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE


class _Espeak:
    """The loaded library, initialised once per process."""

    def __init__(self):
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data_path = espeakng_loader.get_data_path().encode()
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetSynthCallback.argtypes = [SYNTH_CALLBACK]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
        ]
        rate = self.lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, INITIALIZE_PHONEME_EVENTS | INITIALIZE_PHONEME_IPA
        )
        if rate != ESPEAK_RATE:
            raise RuntimeError(f"espeak_Initialize returned {rate}, expected {ESPEAK_RATE} Hz")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int, bytes]] = []
        self._callback = SYNTH_CALLBACK(self._on_synth)  # keep a reference: C holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav, num_samples, events) -> int:
        if num_samples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        index = 0
        while events[index].type != EVENT_LIST_TERMINATED:
            event = events[index]
            name = bytes(event.id.string) if event.type == EVENT_PHONEME else b""
            self._events.append((event.type, event.audio_position, event.text_position, event.length, name))
            index += 1
        return 0

    def synthesize(self, text: str, voice: Voice, seed: int = 0) -> tuple[np.ndarray, list]:
        if self.lib.espeak_SetVoiceByName(voice.espeak_name.encode()) != 0:
            raise ValueError(f"unknown espeak voice {voice.espeak_name!r}")
        self.lib.espeak_SetParameter(PARAM_RATE, int(voice.rate), 0)
        self.lib.espeak_SetParameter(PARAM_PITCH, int(voice.pitch), 0)
        self.lib.espeak_SetParameter(PARAM_RANGE, int(voice.pitch_range), 0)
        self._chunks, self._events = [], []
        # espeak adds random jitter (noise sources, durations); a fixed seed makes output repeatable.
        self.lib.espeak_ng_SetRandSeed(int(seed))
        encoded = text.encode("utf-8") + b"\0"
        buffer = ctypes.create_string_buffer(encoded)
        status = self.lib.espeak_Synth(buffer, len(encoded), 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed with status {status}")
        pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return pcm, list(self._events)


@lru_cache(maxsize=1)
def _engine() -> _Espeak:
    return _Espeak()


def _synthesize_pristine(text: str, voice: Voice, seed: int) -> tuple[np.ndarray, list]:
    """Synthesize in a forked child so every call starts from the library's untouched state.

    libespeak-ng keeps hidden static state across calls (e.g. the pitch-flutter phase), so the
    same text gives slightly different samples and lengths depending on what was said before,
    and neither `espeak_ng_SetRandSeed` nor re-initialising resets it. This process never
    synthesizes itself; each child does one utterance, pickles the result into a pipe and exits.
    """
    engine = _engine()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(read_end)
            try:
                result = ("ok", engine.synthesize(text, voice, seed))
            except (ValueError, RuntimeError) as error:
                result = (type(error).__name__, str(error))
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(pickle.dumps(result))
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not payload:
        raise RuntimeError(f"espeak synthesis failed for voice {voice.espeak_name!r}")
    kind, result = pickle.loads(payload)
    if kind != "ok":
        raise (ValueError if kind == "ValueError" else RuntimeError)(result)
    return result


def _decode_name(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def events_to_phonemes(events: list, duration: float) -> tuple[PhonemeTable, list[tuple[float, int, int]]]:
    """Phoneme events mark onsets; each phoneme lasts until the next onset (or the end of audio)."""
    onsets = [(pos / 1000.0, _decode_name(name)) for kind, pos, _, _, name in events if kind == EVENT_PHONEME]
    words = [(pos / 1000.0, text_pos, length) for kind, pos, text_pos, length, _ in events if kind == EVENT_WORD]
    rows = []
    for i, (start, name) in enumerate(onsets):
        end = onsets[i + 1][0] if i + 1 < len(onsets) else duration
        end = min(max(end, start), duration)
        if name and end > start:
            rows.append((start, end, name))
    return PhonemeTable(rows, alphabet="ipa"), words


def speak(text: str, voice: str | Voice = "en-us", rate: int = 160, pitch: int = 50) -> tuple[np.ndarray, PhonemeTable]:
    """Text to (16 kHz float32 samples, IPA phoneme table) - for the app's "type text to speak" box."""
    utterance = synthesize(text, voice if isinstance(voice, Voice) else Voice(name=voice, rate=rate, pitch=pitch))
    return utterance.audio, utterance.phonemes


def synthesize(text: str, voice: Voice = Voice(), seed: int = 0, pristine: bool = True) -> Utterance:
    """Full synthesis result: audio at 16 kHz, IPA phoneme table and word onsets (same seed, same bytes)."""
    if not text.strip():
        raise ValueError("nothing to say: the text is empty")
    with _LOCK:
        if pristine and hasattr(os, "fork"):
            pcm, events = _synthesize_pristine(text, voice, seed)
        else:  # faster, but the samples depend slightly on earlier calls
            pcm, events = _engine().synthesize(text, voice, seed)
    audio = resample(pcm.astype(np.float32) / 32768.0, ESPEAK_RATE, SAMPLE_RATE)
    duration = len(audio) / SAMPLE_RATE
    table, words = events_to_phonemes(events, duration)
    return Utterance(text=text, voice=voice, audio=audio, phonemes=table, words=words)


def list_variants() -> list[str]:
    import espeakng_loader

    return sorted(p.name for p in (Path(espeakng_loader.get_data_path()) / "voices" / "!v").iterdir())
