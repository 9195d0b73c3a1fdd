"""Pictures for the docs and sample files for the app: `python -m rap.synth docs`.

Why generated: the contact sheet and frame strip show what the synthetic world looks like and
must be rebuilt whenever the renderer changes; the assets give the app and the tests inputs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from rap.synth.identity import Identity
from rap.synth.motion import FaceControls
from rap.synth.portrait import PortraitRenderer

SAMPLE_SENTENCES = (
    ("hello", "Hello! My name is Rap, and I can talk about anything you like.", "en-us", "", 160, 50),
    ("weather", "The weather was wonderful this morning, so we walked along the beach.", "en-gb-x-rp", "f2", 150, 60),
    ("question", "Why did the old man leave the heavy box at the station?", "en-us", "m3", 170, 40),
)


def contact_sheet(path: Path, count: int = 24, columns: int = 6, tile: int = 192, first_seed: int = 100) -> Path:
    rng = np.random.default_rng(first_seed)
    tiles = []
    for i in range(count):
        controls = FaceControls(jaw=float(rng.choice([0.0, 0.3, 0.6])), closure=0.0, width=float(rng.uniform(0.3, 0.8)))
        image = PortraitRenderer(Identity.sample(first_seed + i), 384).render(controls).image
        tiles.append(np.asarray(Image.fromarray(image).resize((tile, tile), Image.LANCZOS)))
    rows = [np.concatenate(tiles[r * columns : (r + 1) * columns], 1) for r in range(count // columns)]
    Image.fromarray(np.concatenate(rows, 0)).save(path, optimize=True)
    return path


def frame_strip(path: Path, seed: int = 7, size: int = 384, count: int = 12, step: int = 2) -> Path:
    """Frames of one spoken sentence, cropped to the face, above a plot of the mouth opening."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rap.synth.clip import make_clip
    from rap.synth.speech import Voice

    clip = make_clip(seed, size=size, frames=None, text="Hello, my friend! Would you like a cup of coffee?", voice=Voice("en-us", "", 150, 50))
    opening = clip.motion.opening
    start = int(np.argmax(opening > 0.05)) - 2
    picks = [start + step * i for i in range(count)]
    boxes = clip.mouth_boxes[picks]
    cx = float(boxes[:, [0, 2]].mean()) * size
    cy = float(boxes[:, [1, 3]].mean()) * size
    half = int(0.3 * size)
    y0 = int(np.clip(cy - 1.25 * half, 0, size - 2 * half))
    x0 = int(np.clip(cx - half, 0, size - 2 * half))
    crops = [clip.frames[k][y0 : y0 + 2 * half, x0 : x0 + 2 * half] for k in picks]
    figure = plt.figure(figsize=(count * 1.2, 2.3), dpi=100)
    for i, (k, crop) in enumerate(zip(picks, crops)):
        ax = figure.add_axes([i / count, 0.32, 1 / count, 0.68])
        ax.imshow(crop)
        ax.set_axis_off()
        ax.set_title(f"{k}", fontsize=7, y=0.0, color="white", pad=-8)
    ax = figure.add_axes([0.0, 0.0, 1.0, 0.3])
    t = np.arange(len(opening))
    ax.plot(t, opening, color="tab:red", lw=1.2, label="lip opening")
    ax.plot(t, clip.motion.round, color="tab:blue", lw=0.8, label="rounding")
    ax.plot(t, clip.motion.closure, color="tab:gray", lw=0.8, label="closure")
    for k in picks:
        ax.axvline(k, color="k", lw=0.3, alpha=0.4)
    ax.set_xlim(picks[0] - 0.5, picks[-1] + 0.5)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=6, loc="upper right", ncol=3)
    ax.tick_params(labelsize=6)
    figure.savefig(path)
    plt.close(figure)
    return path


def write_assets(root: Path) -> list[Path]:
    """Portraits (512 px), spoken sentences with phoneme tables and two public-domain photos."""
    from rap.synth.phonemes import write_table
    from rap.synth.speech import Voice, synthesize
    import soundfile as sf

    written = []
    portraits = root / "portraits"
    speech = root / "speech"
    portraits.mkdir(parents=True, exist_ok=True)
    speech.mkdir(parents=True, exist_ok=True)
    for seed in (3, 11, 21, 42):
        path = portraits / f"synth_{seed:03d}.png"
        image = PortraitRenderer(Identity.sample(seed), 512).render(FaceControls()).image
        Image.fromarray(image).save(path, optimize=True)
        written.append(path)
    for name, text, voice, variant, rate, pitch in SAMPLE_SENTENCES:
        utterance = synthesize(text, Voice(voice, variant, rate, pitch))
        sf.write(speech / f"{name}.wav", utterance.audio, 16000, subtype="PCM_16")
        write_table(utterance.phonemes, speech / f"{name}.txt")
        written += [speech / f"{name}.wav", speech / f"{name}.txt"]
    written += _photos(portraits)
    return written


def _photos(portraits: Path) -> list[Path]:
    """matplotlib's grace_hopper.jpg and scikit-image's astronaut (both public domain)."""
    out = []
    import matplotlib

    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if hopper.is_file():
        shutil.copyfile(hopper, portraits / "grace_hopper.jpg")
        out.append(portraits / "grace_hopper.jpg")
    try:
        from skimage import data

        path = portraits / "astronaut.jpg"
        Image.fromarray(data.astronaut()).save(path, quality=90)
        out.append(path)
    except ImportError:  # scikit-image is only needed to re-export this one photo; keep the copy
        if (portraits / "astronaut.jpg").is_file():
            out.append(portraits / "astronaut.jpg")
    return out


def build_docs(docs: Path = Path("docs"), assets: Path | None = Path("assets")) -> list[Path]:
    docs.mkdir(parents=True, exist_ok=True)
    written = [contact_sheet(docs / "synth_contact_sheet.png"), frame_strip(docs / "synth_frame_strip.png")]
    if assets is not None:
        written += write_assets(assets)
    return written
