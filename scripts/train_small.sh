#!/usr/bin/env bash
# Rebuild the bundled small model from nothing: synthetic data, audio encoder, VAE, latent cache,
# DiT (Algorithm 1), bundle, and the quality report on held-out clips. Every stage resumes from its
# checkpoint in $WORK/runs/ when run again, and skips what is done.
# usage: RAP_WORK=/somewhere/outside/the/checkout bash scripts/train_small.sh [clips=500] [dit_minutes=40] [cache_clips=300]
# On a 2-core CPU: data 10 min, audio encoder 28 min, VAE 30 + 24 min, cache 2 s a clip, DiT as long as given:
# about 2.5 hours in all with the defaults (quality report included).
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
CLIPS=${1:-500}
DIT_MINUTES=${2:-40}
CACHE_CLIPS=${3:-300}
WORK=${RAP_WORK:-.}  # data/ and runs/ go here; keep it outside the checkout to survive a fresh clone
DATA=$WORK/data/synth384
HELD_OUT=$WORK/data/heldout384  # another seed: identities, voices and sentences never trained on
SHARDS=$(( (CLIPS + 24) / 25 ))
LAST_SHARD=$(printf "%s/shard-%05d.tar" "$DATA" $(( SHARDS - 1 )))
[ -f "$LAST_SHARD" ] || python -m rap.synth dataset --out "$DATA" --clips "$CLIPS" --seed 1000 --size 384 --frames 121 --shard-size 25 --workers 2
[ -f "$HELD_OUT/shard-00000.tar" ] || python -m rap.synth dataset --out "$HELD_OUT" --clips 24 --seed 777000 --size 384 --frames 121 --shard-size 24
[ -d "$WORK/runs/audio/audio_encoder" ] || python -m rap.training.train_audio --data "$DATA" --out "$WORK/runs/audio" --steps 3000 --max-minutes 28
# VAE: batches of 16 crops of 64 px until it reads its latent, then batches of 4 crops of 128 px. The
# mouth weighting (train_vae --mouth-weight, default 12) and the latent control probe (--control-weight,
# default 10) came after the bundled VAE, which had neither.
[ -d "$WORK/runs/vae/vae" ] || python -m rap.training.train_vae --data "$DATA" --held-out "$HELD_OUT" --out "$WORK/runs/vae" --steps 6000 --max-minutes 30
[ -f "$WORK/runs/vae/phase2.done" ] || { python -m rap.training.train_vae --data "$DATA" --held-out "$HELD_OUT" --out "$WORK/runs/vae" --steps 6000 --max-minutes 24 --crop 128 --batch-size 4 --lr 2e-4 && touch "$WORK/runs/vae/phase2.done"; }
# The VAE's successor (not bundled yet, README "Training"): frame the clips once to disk
# (python -m rap.training.framed_clips --data "$DATA" --out "$WORK/data/framed256"), continue the VAE
# with the latent control probe (train_vae --data "$WORK/data/framed256" --init "$WORK/runs/vae/vae"
# --control-weight 10 --lr 3e-4), then train its decoder alone on 128-px crops (train_vae --init
# PROBE_VAE --decoder-only --crop 128 --batch-size 6 --lr 2e-4), which keeps the latent space.
[ -f "$WORK/data/latents/chunk-00000.safetensors" ] || python -m rap.training.latent_cache --data "$DATA" --vae "$WORK/runs/vae/vae" --audio "$WORK/runs/audio/audio_encoder" --out "$WORK/data/latents" --limit "$CACHE_CLIPS"
[ -d "$WORK/runs/dit/transformer" ] || python -m rap.training.train_dit --cache "$WORK/data/latents" --out "$WORK/runs/dit" --steps 100000 --max-minutes "$DIT_MINUTES" --lr 3e-4
python -m rap.training.bundle --vae "$WORK/runs/vae/vae" --audio "$WORK/runs/audio/audio_encoder" --transformer "$WORK/runs/dit/transformer" --out models/rap-small
python -m rap.eval quality --data "$HELD_OUT" --weights models/rap-small --out "$WORK/runs/quality"
