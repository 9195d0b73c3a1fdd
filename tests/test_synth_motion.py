"""Phoneme timings to per-frame mouth controls at 25 fps."""

import numpy as np

from rap.synth.motion import MotionConfig, frame_count, motion_from_phonemes, opening_from_phonemes
from rap.synth.phonemes import PhonemeTable


def test_open_vowel_opens_the_mouth_exactly_in_its_frames():
    table = PhonemeTable([(1.0, 1.4, "ɑ")])  # frames 25..34 cover [1.0, 1.4)
    opening = opening_from_phonemes(table, 75)
    assert len(opening) == 75
    assert opening[:20].max() < 0.02 and opening[42:].max() < 0.02  # silence closes the mouth
    assert opening[27:33].min() > 0.7
    centre = (opening * np.arange(75)).sum() / opening.sum()
    assert 29 <= centre <= 30.5  # the 1.0-1.4 s vowel centres on frame ~29.5


def test_bilabials_close_the_lips_and_rounding_follows_u():
    table = PhonemeTable([(0.2, 0.5, "ɑ"), (0.5, 0.58, "p"), (0.58, 0.9, "ɑ"), (0.9, 1.3, "u")])
    motion = motion_from_phonemes(table, 40, MotionConfig(lead_ms=0), still=True)
    p_frame = int(0.54 * 25)
    assert motion.closure[p_frame] > 0.6
    assert motion.opening[p_frame] < 0.5 * motion.opening[int(0.35 * 25)]
    assert motion.round[int(1.1 * 25)] > 0.8 > 0.3 > motion.round[int(0.35 * 25)]
    assert motion.width[int(1.1 * 25)] < motion.width[int(0.35 * 25)]


def test_arpabet_and_ipa_give_the_same_mouth():
    ipa = PhonemeTable([(0.1, 0.3, "h"), (0.3, 0.5, "ə"), (0.5, 0.6, "l"), (0.6, 0.9, "oʊ")])
    arpa = PhonemeTable([(0.1, 0.3, "HH"), (0.3, 0.5, "AH0"), (0.5, 0.6, "L"), (0.6, 0.9, "OW1")])
    assert np.allclose(opening_from_phonemes(ipa, 30), opening_from_phonemes(arpa, 30), atol=1e-6)


def test_blinks_and_head_motion_are_seeded():
    table = PhonemeTable([(0.2, 0.5, "ˈɑ"), (1.0, 1.3, "ˈi")])
    a = motion_from_phonemes(table, 250, MotionConfig(blinks_per_second=0.5), np.random.default_rng(1))
    b = motion_from_phonemes(table, 250, MotionConfig(blinks_per_second=0.5), np.random.default_rng(1))
    c = motion_from_phonemes(table, 250, MotionConfig(blinks_per_second=0.5), np.random.default_rng(2))
    assert np.array_equal(a.pose, b.pose) and not np.array_equal(a.pose, c.pose)
    assert a.blink.max() > 0.5 and (a.blink > 0.5).mean() < 0.2
    assert np.abs(a.pose[:, :3]).max() < 15
    assert frame_count(4.84) == 121 and frame_count(4.81) == 121
