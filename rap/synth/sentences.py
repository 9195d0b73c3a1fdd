"""Random English sentences from a tiny grammar: many distinct, speakable utterances.

Why a grammar and not a corpus: nothing can be downloaded here, and a few hundred words in a
handful of templates already give billions of sentences covering every English viseme.
"""

from __future__ import annotations

import numpy as np

SUBJECTS = (
    "the old man", "my sister", "a tall woman", "the doctor", "our teacher", "the young pilot", "my neighbour",
    "the baker", "a quiet boy", "the farmer", "her brother", "the small child", "a famous singer", "the captain",
    "the police officer", "my best friend", "the mayor", "an artist", "the waiter", "a cheerful nurse",
    "the new student", "grandmother", "the fisherman", "a busy lawyer", "the driver", "our guide", "she", "he",
    "we", "they", "everyone", "nobody", "the team", "my father", "your mother", "the president",
)
VERBS = (
    "found", "painted", "bought", "carried", "opened", "watched", "fixed", "borrowed", "sold", "cooked",
    "loved", "remembered", "visited", "cleaned", "moved", "measured", "counted", "photographed", "wanted",
    "needed", "shared", "broke", "built", "dropped", "described", "ordered", "followed", "pushed", "pulled",
    "played with", "looked at", "talked about", "thought about", "waited for", "asked for", "laughed at",
)
OBJECTS = (
    "a blue umbrella", "the heavy box", "seven apples", "an old map", "the broken clock", "a paper boat",
    "the wooden chair", "fresh bread", "a yellow kite", "the morning news", "her brown shoes", "a silver ring",
    "two tickets", "the garden gate", "a warm blanket", "the purple flowers", "an empty bottle", "the piano",
    "some orange juice", "a funny movie", "the mountain road", "his violin", "the red bicycle", "a good book",
    "the whole pizza", "a big balloon", "the moon", "a strange noise", "the window", "a cup of coffee",
    "the beautiful picture", "a new phone", "the football", "a little puppy", "the letters", "the bridge",
)
PLACES = (
    "in the kitchen", "at the station", "near the river", "on the beach", "in the park", "at school",
    "behind the house", "under the table", "in the city", "at the market", "on the boat", "by the window",
    "in the museum", "at the airport", "on the hill", "in the forest", "at the hotel", "in the office",
)
TIMES = (
    "yesterday", "this morning", "last week", "every day", "on Monday", "at midnight", "after lunch",
    "before dinner", "in the summer", "two hours ago", "today", "tonight", "once again", "on Friday",
)
ADJECTIVES = (
    "happy", "tired", "surprised", "wonderful", "terrible", "quiet", "beautiful", "cold", "warm", "strange",
    "perfect", "lovely", "amazing", "boring", "ready", "sure", "hungry", "afraid", "proud", "lucky",
)
OPENERS = (
    "well", "oh", "you know", "honestly", "look", "listen", "so", "actually", "of course", "by the way",
    "hello", "good morning", "thank you", "please", "yes", "no", "maybe", "wow",
)
QUESTIONS = ("why", "where", "when", "how")


def _pick(rng: np.random.Generator, words: tuple[str, ...]) -> str:
    return words[int(rng.integers(len(words)))]


def random_sentence(rng: np.random.Generator) -> str:
    """One sentence from one of several templates."""
    s, v, o = _pick(rng, SUBJECTS), _pick(rng, VERBS), _pick(rng, OBJECTS)
    template = int(rng.integers(7))
    if template == 0:
        text = f"{s} {v} {o} {_pick(rng, PLACES)}."
    elif template == 1:
        text = f"{_pick(rng, TIMES)}, {s} {v} {o}."
    elif template == 2:
        text = f"{_pick(rng, OPENERS)}, I think {s} was {_pick(rng, ADJECTIVES)} {_pick(rng, TIMES)}."
    elif template == 3:
        text = f"{_pick(rng, QUESTIONS)} did {s} leave {o} {_pick(rng, PLACES)}?"
    elif template == 4:
        text = f"{s} {v} {o}, and then {_pick(rng, SUBJECTS)} {_pick(rng, VERBS)} {_pick(rng, OBJECTS)}."
    elif template == 5:
        text = f"{_pick(rng, OPENERS)}! It was {_pick(rng, ADJECTIVES)} to see {o} {_pick(rng, PLACES)}."
    else:
        text = f"{s} said that {_pick(rng, SUBJECTS)} {v} {o} {_pick(rng, TIMES)}."
    return text[0].upper() + text[1:]


def random_text(rng: np.random.Generator, min_seconds: float, words_per_second: float = 2.6) -> str:
    """Enough sentences to last about `min_seconds` when spoken at an average rate."""
    sentences, words = [], 0
    while words < min_seconds * words_per_second:
        sentence = random_sentence(rng)
        sentences.append(sentence)
        words += len(sentence.split())
    return " ".join(sentences)
