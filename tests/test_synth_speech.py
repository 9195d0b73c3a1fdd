"""espeak synthesis with phoneme timings, and the phoneme table format."""

import numpy as np
import pytest

from rap.synth.phonemes import PhonemeTable, arpabet_visemes, ipa_visemes, read_table, write_table
from rap.synth.speech import Voice, speak, synthesize


def test_speak_returns_16k_audio_and_ordered_phonemes():
    audio, table = speak("Papa bought a big map.", voice="en-us")
    duration = len(audio) / 16000
    assert audio.dtype == np.float32 and 0.8 < duration < 4.0
    assert 0.05 < np.abs(audio).max() <= 1.0
    starts = [s for s, _, _ in table.rows]
    assert starts == sorted(starts) and len(table) >= 12
    assert all(0 <= s < e <= duration + 1e-6 for s, e, _ in table.rows)
    assert {"p", "b", "m"} & {p.strip("ˈˌ") for _, _, p in table.rows}


def test_phoneme_times_match_the_sound():
    """Vowels are loud and stops quiet at the times espeak reports: the event positions are right."""
    utterance = synthesize("Bob and papa met a tall man at the pool.", Voice("en-us"))
    loud, quiet = [], []
    for start, end, symbol in utterance.phonemes.rows:
        segment = utterance.audio[int(start * 16000) : int(end * 16000)]
        if len(segment) < 80:
            continue
        rms = float(np.sqrt(np.mean(segment**2)))
        kind = ipa_visemes(symbol)[0]
        if kind in ("AA", "AE", "AH", "AO", "UW"):
            loud.append(rms)
        elif kind in ("PBM", "DT", "KG") and symbol.strip("ˈˌ") in ("p", "t", "k", "b", "d"):
            quiet.append(rms)
    assert loud and quiet
    assert np.median(loud) > 2.5 * np.median(quiet)


def test_same_seed_same_bytes_and_voices_differ():
    a = synthesize("Good morning, everyone.", Voice("en-us", "m3", 150, 40), seed=3).audio
    b = synthesize("Good morning, everyone.", Voice("en-us", "m3", 150, 40), seed=3).audio
    c = synthesize("Good morning, everyone.", Voice("en-gb-x-rp", "f2", 180, 70), seed=3).audio
    assert a.tobytes() == b.tobytes()
    assert len(a) != len(c) or not np.allclose(a, c)


def test_unknown_voice_and_empty_text_are_refused():
    with pytest.raises(ValueError):
        synthesize("   ")
    with pytest.raises(ValueError):
        synthesize("hello", Voice("no-such-voice"))


def test_table_round_trip_and_alphabets(tmp_path):
    table = PhonemeTable([(0.0, 0.12, "sil"), (0.12, 0.2, "HH"), (0.2, 0.35, "AH0"), (0.35, 0.5, "L"), (0.5, 0.8, "OW1")])
    path = tmp_path / "t.txt"
    write_table(table, path)
    back = read_table(path)
    assert back.resolved_alphabet() == "arpabet"
    assert [p for _, _, p in back.rows] == [p for _, _, p in table.rows]
    assert np.allclose([s for s, _, _ in back.rows], [s for s, _, _ in table.rows])
    assert arpabet_visemes("OW1") == ["OW", "UW"] and arpabet_visemes("M") == ["PBM"]
    assert ipa_visemes("ˈaɪ") == ["AA", "IY"] and ipa_visemes("tʃ") == ["SH"]
    ipa = read_table("0.0 0.1 m\n0.1 0.3 ˈɑː\n")
    assert ipa.resolved_alphabet() == "ipa" and [v.name for _, _, v in ipa.visemes()] == ["PBM", "AA"]
    with pytest.raises(ValueError):
        read_table("0.5 0.2 a\n")
