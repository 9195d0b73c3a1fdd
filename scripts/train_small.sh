#!/usr/bin/env bash
# Rebuild the bundled small model from nothing: synthetic data, audio encoder, VAE, latent cache,
# DiT (Algorithm 1), bundle, and the quality report on held-out clips. Every stage resumes from its
# checkpoint in $WORK/runs/ when run again, and skips what is done.
# usage: RAP_WORK=/somewhere/outside/the/checkout bash scripts/train_small.sh [clips=500] [dit_minutes=340] [cache_clips=300]
# On a 2-core CPU: data 10 min (+ 4 min of clips with pauses), audio encoder 28 min, VAE 30 + 24 + 35 + 198 + 80 + 20 + 58 + 55 min (+ 6 min of lip reader), framing 8 min,
# cache 2 s a clip, DiT as long as given + 20 min (2.3-2.6 s a step), the DiT's own latents 35 min and the decoder on them 33 min:
# about 18 hours in all with the defaults (quality report included).
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
CLIPS=${1:-500}
DIT_MINUTES=${2:-340}
CACHE_CLIPS=${3:-300}
WORK=${RAP_WORK:-.}  # data/ and runs/ go here; keep it outside the checkout to survive a fresh clone
DATA=$WORK/data/synth384
HELD_OUT=$WORK/data/heldout384  # another seed: identities, voices and sentences never trained on
SHARDS=$(( (CLIPS + 24) / 25 ))
LAST_SHARD=$(printf "%s/shard-%05d.tar" "$DATA" $(( SHARDS - 1 )))
[ -f "$LAST_SHARD" ] || python -m rap.synth dataset --out "$DATA" --clips "$CLIPS" --seed 1000 --size 384 --frames 121 --shard-size 25 --workers 2
PAUSES=$WORK/data/pause384  # clips that stop talking for 0.6-2 s over room noise (make_clip(pause=True))
HELD_OUT_PAUSES=$WORK/data/heldout_pause384
[ -f "$PAUSES/shard-00004.tar" ] || python -m rap.synth dataset --out "$PAUSES" --clips 125 --seed 2000 --size 384 --frames 121 --shard-size 25 --workers 2 --pause-fraction 1
[ -f "$HELD_OUT_PAUSES/shard-00000.tar" ] || python -m rap.synth dataset --out "$HELD_OUT_PAUSES" --clips 8 --seed 778000 --size 384 --frames 121 --shard-size 8 --pause-fraction 1
[ -f "$HELD_OUT/shard-00000.tar" ] || python -m rap.synth dataset --out "$HELD_OUT" --clips 24 --seed 777000 --size 384 --frames 121 --shard-size 24
[ -d "$WORK/runs/audio/audio_encoder" ] || python -m rap.training.train_audio --data "$DATA" --out "$WORK/runs/audio" --steps 3000 --max-minutes 28
# VAE: batches of 16 crops of 64 px until it reads its latent, then batches of 4 crops of 128 px. The
# bundled VAE ran these two phases before the mouth weighting (train_vae --mouth-weight, default 12)
# existed; a rebuild gets it.
[ -d "$WORK/runs/vae/vae" ] || python -m rap.training.train_vae --data "$DATA" --held-out "$HELD_OUT" --out "$WORK/runs/vae" --steps 6000 --max-minutes 30
[ -f "$WORK/runs/vae/phase2.done" ] || { python -m rap.training.train_vae --data "$DATA" --held-out "$HELD_OUT" --out "$WORK/runs/vae" --steps 6000 --max-minutes 24 --crop 128 --batch-size 4 --lr 2e-4 && touch "$WORK/runs/vae/phase2.done"; }
# The mouth, in two more VAE phases (docs/training_log.md): frame the clips once to disk, continue the
# VAE with the latent control probe so that the latent carries the mouth, then train its decoder
# alone on 128-px crops so that it draws it. --decoder-only keeps the encoder and the latent
# statistics, so the latents cached for the DiT are the probe VAE's and the decoder's alike.
# The pause clips are framed too: the decoder needs closed mouths to draw them (docs/training_log.md).
# Each framed clip keeps its audio features, for the audio-guided decoder at the end.
[ -f "$WORK/data/framed256/done" ] || { python -m rap.training.framed_clips --data "$DATA" "$PAUSES" --out "$WORK/data/framed256" --audio-encoder "$WORK/runs/audio/audio_encoder" && touch "$WORK/data/framed256/done"; }
[ -d "$WORK/runs/vaeprobe/vae" ] || python -m rap.training.train_vae --data "$WORK/data/framed256" --held-out "$HELD_OUT" --out "$WORK/runs/vaeprobe" --init "$WORK/runs/vae/vae" --control-weight 10 --lr 3e-4 --steps 100000 --max-minutes 35
DECODER=(--data "$WORK/data/framed256" --held-out "$HELD_OUT" --out "$WORK/runs/vaedec" --init "$WORK/runs/vaeprobe/vae" --decoder-only --crop 128 --batch-size 6 --steps 100000)
[ -d "$WORK/runs/vaedec/vae" ] || python -m rap.training.train_vae "${DECODER[@]}" --lr 2e-4 --max-minutes 178
# the decoder's last 20 minutes at a lower learning rate (the run resumes from its checkpoint)
[ -f "$WORK/runs/vaedec/cooldown.done" ] || { python -m rap.training.train_vae "${DECODER[@]}" --lr 6e-5 --max-minutes 20 && touch "$WORK/runs/vaedec/cooldown.done"; }
# The decoder, once more, now hearing every frame's sound (rap.models.autoencoder_audio): the
# mouth's motion inside a latent frame comes from the audio. Same latent space, so the cache and
# the DiT below are unchanged by it.
[ -d "$WORK/runs/vaeaudio/vae" ] || python -m rap.training.train_vae --data "$WORK/data/framed256" --held-out "$HELD_OUT" --out "$WORK/runs/vaeaudio" \
  --init "$WORK/runs/vaedec/vae" --decoder-only --audio-guided --audio-encoder "$WORK/runs/audio/audio_encoder" \
  --crop 128 --batch-size 6 --lr 1.5e-4 --steps 100000 --max-minutes 80
# ... and once more with the mouth discriminator (train_vae --gan-weight; 2,000 steps, the first 500 of
# them the discriminator alone), then with the latent's mouth swapped out of half the crops as well
# (--mouth-latent-swap), so that the decoder draws the mouth from the sound (the run resumes).
MOUTH=(--data "$WORK/data/framed256" --held-out "$HELD_OUT" --out "$WORK/runs/vaegan" --init "$WORK/runs/vaeaudio/vae"
  --decoder-only --audio-guided --audio-encoder "$WORK/runs/audio/audio_encoder" --crop 128 --batch-size 6 --lr 1.5e-4 --gan-weight 0.5)
[ -f "$WORK/runs/vaegan/gan.done" ] || { python -m rap.training.train_vae "${MOUTH[@]}" --steps 2000 && touch "$WORK/runs/vaegan/gan.done"; }
[ -f "$WORK/runs/vaegan/swap.done" ] || { python -m rap.training.train_vae "${MOUTH[@]}" --steps 100000 --max-minutes 58 --mouth-latent-swap 0.5 && touch "$WORK/runs/vaegan/swap.done"; }
# ... and a last time with a frozen lip reader's reading of the decoded mouths as a loss (train_vae
# --lip-reading-weight): the reader (rap.training.lip_reader, about 6 minutes) learns the world's mouth
# labels from the mouth windows of the framed clips, then tells the decoder, frame by frame, how far
# its mouth is from the right one. No discriminator in this run.
[ -f "$WORK/runs/lipreader/lip_reader.safetensors" ] || python -m rap.training.lip_reader --data "$WORK/data/framed256" --out "$WORK/runs/lipreader" --steps 1500
[ -d "$WORK/runs/vaelip/vae" ] || python -m rap.training.train_vae --data "$WORK/data/framed256" --held-out "$HELD_OUT" --out "$WORK/runs/vaelip" \
  --init "$WORK/runs/vaegan/vae" --decoder-only --audio-guided --audio-encoder "$WORK/runs/audio/audio_encoder" \
  --crop 128 --batch-size 6 --lr 1.5e-4 --steps 100000 --max-minutes 55 --mouth-latent-swap 0.5 \
  --lip-reading-weight 1.0 --lip-reader "$WORK/runs/lipreader/lip_reader.safetensors"
[ -f "$WORK/data/latents_probe/chunk-00000.safetensors" ] || python -m rap.training.latent_cache --data "$DATA" --vae "$WORK/runs/vaeprobe/vae" --audio "$WORK/runs/audio/audio_encoder" --out "$WORK/data/latents_probe" --limit "$CACHE_CLIPS"
[ -f "$WORK/data/latents_pause/chunk-00000.safetensors" ] || python -m rap.training.latent_cache --data "$PAUSES" --vae "$WORK/runs/vaeprobe/vae" --audio "$WORK/runs/audio/audio_encoder" --out "$WORK/data/latents_pause"
# The DiT sees the pause clips too: without them its mouth opened wide over room noise (docs/training_log.md).
# The preset's DiT embeds each audio token's video frame within its latent frame (audio_frame_positions);
# the bundled DiT was trained before that existed, so this recipe's DiT is the newer design.
DIT=(--cache "$WORK/data/latents_probe" "$WORK/data/latents_pause" --out "$WORK/runs/ditprobe" --steps 100000)
[ -f "$WORK/runs/ditprobe/phase1.done" ] || { python -m rap.training.train_dit "${DIT[@]}" --lr 3e-4 --max-minutes "$DIT_MINUTES" && touch "$WORK/runs/ditprobe/phase1.done"; }
# its last 20 minutes at a lower learning rate (resumes from its checkpoint)
[ -f "$WORK/runs/ditprobe/cooldown.done" ] || { python -m rap.training.train_dit "${DIT[@]}" --lr 1e-4 --max-minutes 20 && touch "$WORK/runs/ditprobe/cooldown.done"; }
python -m rap.training.bundle --vae "$WORK/runs/vaelip/vae" --audio "$WORK/runs/audio/audio_encoder" --transformer "$WORK/runs/ditprobe/transformer" --out models/rap-small
# Last, the decoder learns from the DiT's own latents: that pipeline generates every training clip
# from its first frame and its speech (rap.training.generated_latents, about 4.5 s a clip), and the
# decoder is fine-tuned on those latents with the lip reader as judge and a tie to its own output
# outside the mouth (rap.training.train_decoder_generated); then the bundle takes that decoder.
[ -f "$WORK/data/generated/done" ] || { python -m rap.training.generated_latents --data "$DATA" --limit 400 --out "$WORK/data/generated" \
  && python -m rap.training.generated_latents --data "$PAUSES" --limit 64 --first-index 400 --out "$WORK/data/generated" && touch "$WORK/data/generated/done"; }
[ -d "$WORK/runs/decgen/vae" ] || python -m rap.training.train_decoder_generated --data "$WORK/data/generated" --init "$WORK/runs/vaelip/vae" \
  --lip-reader "$WORK/runs/lipreader/lip_reader.safetensors" --out "$WORK/runs/decgen" --lr 1e-4 --steps 1400
python -m rap.training.bundle --vae "$WORK/runs/decgen/vae" --audio "$WORK/runs/audio/audio_encoder" --transformer "$WORK/runs/ditprobe/transformer" --out models/rap-small
python -m rap.eval quality --data "$HELD_OUT" --pause-data "$HELD_OUT_PAUSES" --weights models/rap-small --out "$WORK/runs/quality"
