"""Train the RAP transformer with Algorithm 1 on cached latents.

`python -m rap.training.train_dit --cache data/latents --out runs/dit`
(`accelerate launch -m rap.training.train_dit ...` for several GPUs.)

Table 3 trains one model per attention scope: `--hybrid-weight 0 --hybrid-bias 0` is full-sequence
fusion only (alpha = 0 in every layer), `--hybrid-weight 0 --hybrid-bias 1` window fusion only; the
default is the preset's (or --init's) w = 1, delta = 0, the paper's hybrid. The scope is stored in the
saved transformer's config as its default w and delta.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rap.training.loop import LoopConfig, run_training
from rap.training.objective import ObjectiveConfig, sample_training_batch, training_loss


def dit_loss(objective: ObjectiveConfig):
    def loss_fn(model, batch, step: int = 0):
        device = next(model.parameters()).device
        batch = {k: v.to(device) for k, v in batch.items()}
        step = sample_training_batch(
            batch["latents"], batch["reference"], batch["audio"], objective,
            face_mask=batch["face_mask"], mouth_mask=batch.get("mouth_mask"),
        )
        return training_loss(model, step, objective)

    return loss_fn


def build_transformer(
    preset,
    init: str | None = None,
    hybrid_weight: float | None = None,
    hybrid_bias: float | None = None,
    audio_frame_positions: bool | None = None,
):
    """The DiT to train: from --init or from the preset's config, with the attention scope (w, delta
    of Eq. 7) it trains under, when given. `audio_frame_positions=True` on an --init trained without
    them adds the (zero-initialised) embedding, so the model starts out exactly as it was."""
    from rap import RAPTransformer

    overrides = {
        k: v
        for k, v in (("hybrid_weight", hybrid_weight), ("hybrid_bias", hybrid_bias), ("audio_frame_positions", audio_frame_positions))
        if v is not None
    }
    if not init:
        return RAPTransformer(**{**preset.transformer, **overrides})
    model = RAPTransformer.from_pretrained(init, **{k: v for k, v in overrides.items() if k != "audio_frame_positions"})
    if audio_frame_positions is None or audio_frame_positions == model.config.audio_frame_positions:
        return model
    config = {k: v for k, v in model.config.items() if not k.startswith("_")}  # "_use_default_values" would undo the change
    grown = RAPTransformer.from_config({**config, "audio_frame_positions": audio_frame_positions})
    missing, unexpected = grown.load_state_dict(model.state_dict(), strict=False)
    if unexpected or any(k != "audio_projection.frame_embedding" for k in missing):
        raise ValueError(f"{init} does not fit: missing {missing}, unexpected {unexpected}")
    return grown


def resumed_transformer(out: str, **overrides):
    """The DiT a run in `out` was started as, when it has a checkpoint to resume; else None.

    Resuming rebuilds the run's own architecture, not the preset's current one: a preset that has
    grown since (e.g. audio_frame_positions) would no longer load the checkpoint. Flags that would
    change the architecture or scope of a run half-way are refused.
    """
    from rap import RAPTransformer

    out = Path(out)
    if not (out / "checkpoint").is_dir() or not (out / "state.json").is_file():
        return None
    # transformer_config.json is written when a run starts; runs from before it have transformer/
    for path in (out / "transformer_config.json", out / "transformer" / "config.json"):
        if path.is_file():
            config = {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}
            break
    else:
        return None
    model = RAPTransformer.from_config(config)
    changed = {k: (model.config[k], v) for k, v in overrides.items() if v is not None and model.config[k] != v}
    if changed:
        raise ValueError(
            f"{out} resumes a run started with "
            + ", ".join(f"{k}={was}" for k, (was, _) in changed.items())
            + "; pass the same values (or none), or train into a new --out"
        )
    return model


def save_transformer_config(model, out: str) -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in model.config.items() if not k.startswith("_")}
    (Path(out) / "transformer_config.json").write_text(json.dumps(config, indent=2))


def main(argv=None) -> int:
    from rap.presets import get_preset
    from rap.training.latent_cache import LatentCache

    parser = argparse.ArgumentParser(prog="python -m rap.training.train_dit", description=__doc__)
    parser.add_argument("--cache", required=True, nargs="+", help="one or more latent cache folders, sampled as one")
    parser.add_argument("--out", default="runs/dit")
    parser.add_argument("--preset", default="rap-small")
    parser.add_argument("--init", default=None, help="a RAPTransformer folder to start from (e.g. converted Wan2.1)")
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--face-weight", type=float, default=1.0, help="lambda of Eq. 3")
    parser.add_argument("--temporal-weight", type=float, default=1.0, help="mu of Eq. 3")
    parser.add_argument(
        "--mouth-weight", type=float, default=0.0,
        help="kappa of the optional mouth term added to Eq. 3 (0 = the paper's loss; needs a cache with mouth masks)",
    )
    parser.add_argument("--hybrid-weight", type=float, default=None, help="w of Eq. 7 while training (Table 3)")
    parser.add_argument("--hybrid-bias", type=float, default=None, help="delta of Eq. 7 while training (Table 3)")
    parser.add_argument(
        "--audio-frame-positions", action=argparse.BooleanOptionalAction, default=None,
        help="embed each audio token's video frame within its latent frame (default: the preset's, or --init's)",
    )
    parser.add_argument("--max-minutes", type=float, default=None)
    parser.add_argument("--mixed-precision", default="no")
    args = parser.parse_args(argv)

    preset = get_preset(args.preset)
    scope = dict(hybrid_weight=args.hybrid_weight, hybrid_bias=args.hybrid_bias, audio_frame_positions=args.audio_frame_positions)
    model = resumed_transformer(args.out, **scope)
    if model is None:
        model = build_transformer(preset, args.init, **scope)
        save_transformer_config(model, args.out)
    objective = ObjectiveConfig(
        window=preset.latent_frames, face_weight=args.face_weight, temporal_weight=args.temporal_weight,
        mouth_weight=args.mouth_weight,
    )
    cache = LatentCache(args.cache)
    if args.mouth_weight > 0 and "mouth_mask" not in cache.tensors:
        parser.error("--mouth-weight needs a latent cache with mouth masks: rebuild it, or add them with "
                     "`python -m rap.training.latent_cache --add-mouth-masks FRAMED_CLIPS --out CACHE`")
    loop = LoopConfig(
        args.out, steps=args.steps, lr=args.lr, ema_decay=args.ema, save_every=250,
        max_minutes=args.max_minutes, mixed_precision=args.mixed_precision,
    )
    model, _ = run_training(model, dit_loss(objective), cache.batches(args.batch_size), loop)
    model.save_pretrained(Path(args.out) / "transformer")
    print(f"saved {Path(args.out) / 'transformer'} (EMA weights)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
