#!/usr/bin/env bash
# Rebuild the bundled small model from nothing: synthetic data, audio encoder, VAE, latent cache,
# DiT (Algorithm 1), bundle. Every stage resumes from its checkpoint in $WORK/runs/ when run again.
# usage: bash scripts/train_small.sh [clips=600]
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
CLIPS=${1:-600}
WORK=${RAP_WORK:-.}  # data/ and runs/ go here; keep it outside the checkout to survive a fresh clone
DATA=$WORK/data/synth384
LAST_SHARD=$(printf "%s/shard-%05d.tar" "$DATA" $(( (CLIPS + 49) / 50 - 1 )))
[ -f "$LAST_SHARD" ] || python -m rap.synth dataset --out "$DATA" --clips "$CLIPS" --seed 1000 --size 384 --frames 121 --shard-size 50
[ -d $WORK/runs/audio/audio_encoder ] || python -m rap.training.train_audio --data "$DATA" --out $WORK/runs/audio --steps 3000
[ -d $WORK/runs/vae/vae ] || python -m rap.training.train_vae --data "$DATA" --out $WORK/runs/vae --steps 4000
[ -f $WORK/data/latents/chunk-00000.safetensors ] || python -m rap.training.latent_cache --data "$DATA" --vae $WORK/runs/vae/vae --audio $WORK/runs/audio/audio_encoder --out $WORK/data/latents
[ -d $WORK/runs/dit/transformer ] || python -m rap.training.train_dit --cache $WORK/data/latents --out $WORK/runs/dit --steps 20000
python -m rap.training.bundle --vae $WORK/runs/vae/vae --audio $WORK/runs/audio/audio_encoder --transformer $WORK/runs/dit/transformer --out models/rap-small
