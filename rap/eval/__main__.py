"""Command line of the lip-sync meter: `python -m rap.eval {mouth,sync,quality,train-reader,train-audio}`."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from rap.pipelines.guidance import GUIDANCE_MODES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rap.eval", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    mouth = sub.add_parser("mouth", help="per-frame mouth readings of a video (CSV)")
    mouth.add_argument("video")
    mouth.add_argument("--out", help="CSV path (default: print to stdout)")
    sync = sub.add_parser("sync", help="lip-sync score: correlation of video mouth opening with audio")
    sync.add_argument("video")
    sync.add_argument("--phonemes", help="`start end phoneme` table (seconds) instead of the audio branch")
    sync.add_argument("--audio", help="score against this audio file instead of the video's own track")
    sync.add_argument("--max-offset", type=int, default=5)
    sync.add_argument("--json", action="store_true")
    reader = sub.add_parser("train-reader", help="train the mouth reader CNN on rendered frames")
    reader.add_argument("--identities", type=int, default=500)
    reader.add_argument("--per-identity", type=int, default=40)
    reader.add_argument("--epochs", type=int, default=5)
    reader.add_argument("--threads", type=int, default=1)
    reader.add_argument("--cache", help="npz to keep the rendered training frames in")
    reader.add_argument("--out", default=None)
    audio = sub.add_parser("train-audio", help="train the audio branch on synthetic speech")
    audio.add_argument("--utterances", type=int, default=1200)
    audio.add_argument("--epochs", type=int, default=25)
    audio.add_argument("--threads", type=int, default=1)
    audio.add_argument("--out", default=None)
    quality = sub.add_parser("quality", help="lip sync, silence and drift of a trained pipeline on held-out clips")
    quality.add_argument("--data", required=True, help="held-out shards (python -m rap.synth dataset, another seed)")
    quality.add_argument("--weights", default=None, help="pipeline folder (default: the bundled model)")
    quality.add_argument("--clips", type=int, default=8)
    quality.add_argument("--drift-minutes", type=float, default=5.0)
    quality.add_argument("--no-baseline", action="store_true", help="skip the motion-frame drift baseline")
    quality.add_argument("--steps", type=int, default=None)
    quality.add_argument("--cfg", type=float, default=None, help="audio CFG scale (default: the pipeline's, 5)")
    quality.add_argument("--guidance", default=None, choices=GUIDANCE_MODES, help="cfg (default) or tangential (rap.pipelines.guidance)")
    quality.add_argument("--guidance-stop", type=float, default=None, help="fraction of the steps that are guided (default 1)")
    quality.add_argument("--w", type=float, default=None, help="w of Eq. 7 (0 with --delta 0: full-sequence only; 0 with --delta 1: window only)")
    quality.add_argument("--delta", type=float, default=None, help="delta of Eq. 7 (default: the pipeline's, 0)")
    quality.add_argument("--pause-data", default=None, help="held-out clips with pauses (rap.synth dataset --pause-fraction 1)")
    quality.add_argument("--out", default="outputs/quality")
    args = parser.parse_args(argv)

    if args.command == "mouth":
        from rap.eval.mouth_reader import read_mouth
        from rap.media import read_video

        video = read_video(args.video)
        readings = read_mouth(video.frames)
        names = ["opening", "jaw", "width", "round", "closure"]
        handle = open(args.out, "w", newline="") if args.out else sys.stdout
        writer = csv.writer(handle)
        writer.writerow(["frame", "time"] + names)
        for k in range(len(video.frames)):
            writer.writerow([k, f"{k / video.fps:.3f}"] + [f"{readings[n][k]:.4f}" for n in names])
        if args.out:
            handle.close()
            print(f"wrote {len(video.frames)} frames of readings to {args.out}")
        return 0
    if args.command == "sync":
        from rap.eval.sync import sync_score_file

        result = sync_score_file(args.video, phonemes=args.phonemes, audio=args.audio, max_offset=args.max_offset)
        if args.json:
            print(json.dumps(result.to_dict()))
        else:
            print(f"sync score {result.score:.3f} at offset {result.offset:+d} frames ({result.reference} reference, {result.frames} frames)")
        return 0
    if args.command == "train-reader":
        from rap.eval.train import ReaderTraining, train_reader
        from rap.eval.mouth_reader import WEIGHTS

        config = ReaderTraining(identities=args.identities, per_identity=args.per_identity, epochs=args.epochs, threads=args.threads)
        print(json.dumps(train_reader(config, Path(args.out) if args.out else WEIGHTS, Path(args.cache) if args.cache else None)))
        return 0
    if args.command == "train-audio":
        from rap.eval.train import AudioTraining, train_audio
        from rap.eval.audio_opening import WEIGHTS

        config = AudioTraining(utterances=args.utterances, epochs=args.epochs, threads=args.threads)
        print(json.dumps(train_audio(config, Path(args.out) if args.out else WEIGHTS)))
        return 0
    if args.command == "quality":
        from rap import RAPPipeline
        from rap.eval.quality import QualityConfig, evaluate

        pipe = RAPPipeline.load(args.weights)
        config = QualityConfig(clips=args.clips, drift_minutes=args.drift_minutes, drift_baseline=not args.no_baseline)
        kwargs = {"num_inference_steps": args.steps} if args.steps else {}
        if args.cfg is not None:
            kwargs["guidance_scale"] = args.cfg
        if args.guidance is not None:
            kwargs["guidance"] = args.guidance
        if args.guidance_stop is not None:
            kwargs["guidance_stop"] = args.guidance_stop
        if args.w is not None:
            kwargs["hybrid_weight"] = args.w
        if args.delta is not None:
            kwargs["hybrid_bias"] = args.delta
        report = evaluate(pipe, args.data, config, Path(args.out), pause_data=args.pause_data, **kwargs)
        pauses = report["pauses"]["summary"] if "pauses" in report else None
        print(json.dumps({"lip_sync": report["lip_sync"]["summary"], "silence": report["silence"], "pauses": pauses, "drift": report.get("drift")}, indent=1))
        return 0
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
