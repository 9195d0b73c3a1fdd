"""`python -m rap.synth {dataset,render,speak,docs,bench}`: the synthetic talking-portrait world."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rap.synth", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    ds = sub.add_parser("dataset", help="write a sharded training set of talking clips")
    ds.add_argument("--out", required=True)
    ds.add_argument("--clips", type=int, default=100)
    ds.add_argument("--seed", type=int, default=0)
    ds.add_argument("--size", type=int, default=256)
    ds.add_argument("--frames", type=int, default=121)
    ds.add_argument("--shard-size", type=int, default=50)
    ds.add_argument("--workers", type=int, default=1)
    ds.add_argument("--pause-fraction", type=float, default=0.0, help="share of clips with a silent pause over room noise")
    render = sub.add_parser("render", help="one ground-truth talking video with audio")
    render.add_argument("--seed", type=int, default=0)
    render.add_argument("--text", default=None, help="what to say (default: a random sentence)")
    render.add_argument("--voice", default=None, help="espeak voice, e.g. en-us or en+f3")
    render.add_argument("--rate", type=int, default=160)
    render.add_argument("--pitch", type=int, default=50)
    render.add_argument("--size", type=int, default=256)
    render.add_argument("--out", default="clip.mp4")
    render.add_argument("--phonemes", default=None, help="also write the phoneme table here")
    speak = sub.add_parser("speak", help="text to a 16 kHz wav and its phoneme table")
    speak.add_argument("text")
    speak.add_argument("--voice", default="en-us")
    speak.add_argument("--rate", type=int, default=160)
    speak.add_argument("--pitch", type=int, default=50)
    speak.add_argument("--out", default="speech.wav")
    docs = sub.add_parser("docs", help="regenerate docs/synth_*.png and the sample assets")
    docs.add_argument("--docs", default="docs")
    docs.add_argument("--assets", default="assets")
    docs.add_argument("--no-assets", action="store_true")
    bench = sub.add_parser("bench", help="measure portrait rendering speed")
    bench.add_argument("--size", type=int, default=256)
    bench.add_argument("--frames", type=int, default=200)
    bench.add_argument("--identities", type=int, default=5)
    args = parser.parse_args(argv)

    if args.command == "dataset":
        from rap.synth.dataset import DatasetConfig, write_dataset

        config = DatasetConfig(
            args.out, args.clips, args.seed, args.size, args.frames, args.shard_size, args.workers, args.pause_fraction
        )
        print(json.dumps(write_dataset(config)))
    elif args.command == "render":
        from rap.media import write_video
        from rap.synth.clip import make_clip
        from rap.synth.phonemes import write_table
        from rap.synth.speech import Voice

        voice = None
        if args.voice:
            name, _, variant = args.voice.partition("+")
            voice = Voice(name, variant, args.rate, args.pitch)
        clip = make_clip(args.seed, size=args.size, frames=None if args.text else 121, text=args.text, voice=voice)
        write_video(args.out, clip.frames, fps=clip.fps, audio=clip.audio)
        table = Path(args.phonemes) if args.phonemes else Path(args.out).with_suffix(".phonemes.txt")
        write_table(clip.phonemes, table)
        print(f"wrote {args.out} ({len(clip.frames)} frames, {len(clip.audio) / 16000:.2f} s) and {table}: {clip.text!r}")
    elif args.command == "speak":
        import soundfile as sf

        from rap.synth.phonemes import write_table
        from rap.synth.speech import speak as say

        name, _, variant = args.voice.partition("+")
        from rap.synth.speech import Voice

        audio, table = say(args.text, Voice(name, variant, args.rate, args.pitch))
        sf.write(args.out, audio, 16000)
        write_table(table, Path(args.out).with_suffix(".txt"))
        print(f"wrote {args.out} ({len(audio) / 16000:.2f} s) and {Path(args.out).with_suffix('.txt')}")
    elif args.command == "docs":
        from rap.synth.docs import build_docs

        for path in build_docs(Path(args.docs), None if args.no_assets else Path(args.assets)):
            print(path)
    elif args.command == "bench":
        from rap.synth.bench import bench_render

        print(json.dumps(bench_render(args.size, args.frames, args.identities)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
