#!/usr/bin/env bash
# Rebuild the bundled small model from nothing: synthetic data, audio encoder, VAE, latent cache,
# DiT (Algorithm 1), bundle. Every stage resumes from its checkpoint in runs/ when run again.
# usage: bash scripts/train_small.sh [clips=600]
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
CLIPS=${1:-600}
DATA=data/synth384
[ -f "$DATA/dataset.json" ] || python -m rap.synth dataset --out "$DATA" --clips "$CLIPS" --seed 1000 --size 384 --frames 121 --shard-size 50
[ -d runs/audio/audio_encoder ] || python -m rap.training.train_audio --data "$DATA" --out runs/audio --steps 3000
[ -d runs/vae/vae ] || python -m rap.training.train_vae --data "$DATA" --out runs/vae --steps 4000
[ -f data/latents/chunk-00000.safetensors ] || python -m rap.training.latent_cache --data "$DATA" --vae runs/vae/vae --audio runs/audio/audio_encoder --out data/latents
[ -d runs/dit/transformer ] || python -m rap.training.train_dit --cache data/latents --out runs/dit --steps 20000
python -m rap.training.bundle --vae runs/vae/vae --audio runs/audio/audio_encoder --transformer runs/dit/transformer --out models/rap-small
