"""Lip sync of held-out clips, per clip, for pairing two decoders on the same DiT latents.

python -m rap.eval.heldout_lip_sync --data HELD_OUT [--weights PIPELINE] [--vae VAE_FOLDER] [--clips 24]
    [--guidance-scale 5] [--out per_clip.json]

For each clip: its ground truth framed as in training (`rap.training.framing`), the meter's score
of that truth's round trip through the VAE (the most a generator in its latent space can reach),
and of a generation from its first frame and its speech (CFG 5 unless --guidance-scale says
otherwise, seed = the clip's index, so runs with different decoders or scales pair clip by clip). --vae
swaps in another VAE folder (a decoder-only run keeps the latent space, so the DiT's latents are
the same): run once per decoder and compare clip by clip.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def main(argv=None) -> int:
    from rap import RAPPipeline
    from rap.eval.quality import vae_round_trip
    from rap.eval.sync import sync_score
    from rap.loading import load_vae
    from rap.synth.dataset import SynthClipDataset
    from rap.training.framing import frame_clip

    parser = argparse.ArgumentParser(prog="python -m rap.eval.heldout_lip_sync", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="held-out shards (python -m rap.synth dataset, another seed)")
    parser.add_argument("--weights", default=None, help="pipeline folder (default: the bundled model)")
    parser.add_argument("--vae", default=None, help="a VAE folder to decode with instead of the pipeline's")
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--guidance-scale", type=float, default=5.0, help="audio CFG scale of the generations (the round trip has none)")
    parser.add_argument("--out", default=None, help="JSON file for the per-clip scores")
    args = parser.parse_args(argv)
    pipe = RAPPipeline.load(args.weights)
    if args.vae:
        pipe.vae = load_vae(args.vae)
    pipe.to(torch.float32)
    pipe.vae.eval()
    rows, started = [], time.time()
    for index, clip in zip(range(args.clips), SynthClipDataset(args.data, with_meta=True)):
        truth = frame_clip(clip, pipe.config.resolution)["frames"].numpy()
        speech = clip["audio"].numpy()
        round_trip = vae_round_trip(pipe, truth, speech)
        video = pipe(truth[0], speech, crop="none", seed=index, guidance_scale=args.guidance_scale).frames
        row = {
            "clip": index,
            "round_trip": sync_score(round_trip, phonemes=clip["phonemes"]).score,
            "generated": sync_score(video, phonemes=clip["phonemes"]).score,
        }
        rows.append(row)
        print(f"clip {index}: round trip {row['round_trip']:.3f}, generated {row['generated']:.3f} ({time.time() - started:.0f} s)", flush=True)
    summary = {key: float(np.mean([r[key] for r in rows])) for key in ("round_trip", "generated")}
    print(f"mean over {len(rows)} clips: round trip {summary['round_trip']:.3f}, generated {summary['generated']:.3f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"summary": summary, "clips": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
