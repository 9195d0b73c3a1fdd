"""One training loop for every trained part (VAE, audio encoder, DiT), on `accelerate`.

The same script runs on a CPU, one GPU or many (`accelerate launch`). It resumes from the last
checkpoint in its output folder, keeps an EMA of the weights when asked, and writes the loss
curve as data (`loss.csv`) and as a picture (`loss.png`).
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch


@dataclass
class LoopConfig:
    out: str
    steps: int = 1000
    lr: float = 1e-4
    weight_decay: float = 0.0
    warmup_steps: int = 100
    grad_clip: float = 1.0
    log_every: int = 10
    save_every: int = 200
    ema_decay: float | None = None
    seed: int = 0
    mixed_precision: str = "no"  # "bf16" on GPUs
    max_minutes: float | None = None  # stop (after saving) when the wall-clock budget is spent


LossFn = Callable[[torch.nn.Module, dict, int], tuple[torch.Tensor, dict[str, torch.Tensor]]]  # (model, batch, step)


def _lr_lambda(warmup: int):
    return lambda step: min(1.0, (step + 1) / max(1, warmup))


def run_training(model: torch.nn.Module, loss_fn: LossFn, batches: Iterator[dict], config: LoopConfig):
    """Train `model` in place; returns (model, ema_model or None). Resumes from `out/checkpoint`."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from diffusers.training_utils import EMAModel

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    accelerator = Accelerator(mixed_precision=config.mixed_precision, project_dir=str(out))
    set_seed(config.seed)
    groups = parameter_groups(model)
    optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config.warmup_steps))
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    ema = EMAModel(accelerator.unwrap_model(model).parameters(), decay=config.ema_decay) if config.ema_decay else None
    if ema is not None:
        accelerator.register_for_checkpointing(ema)

    checkpoint = out / "checkpoint"
    state_file = out / "state.json"
    start = 0
    if checkpoint.is_dir() and state_file.is_file():
        accelerator.load_state(str(checkpoint))
        start = json.loads(state_file.read_text())["step"]
        # the learning rate asked for now wins over the checkpoint's (resume with a new lr)
        getattr(scheduler, "scheduler", scheduler).base_lrs = [config.lr] * len(optimizer.param_groups)
        for group in optimizer.param_groups:
            group["lr"] = config.lr * _lr_lambda(config.warmup_steps)(start)
        accelerator.print(f"resumed from step {start} at lr {config.lr:g}")
    (out / "config.json").write_text(json.dumps(asdict(config), indent=2))

    log_path = out / "loss.csv"
    new_log = not log_path.exists() or start == 0
    if not new_log:
        _drop_rows_from(log_path, start)
    log = open(log_path, "w" if new_log else "a", newline="")
    writer = None
    started = time.time()
    model.train()
    step = start
    try:
        for step in range(start, config.steps):
            batch = next(batches)
            with accelerator.accumulate(model):
                loss, parts = loss_fn(model, batch, step)
                accelerator.backward(loss)
                if accelerator.sync_gradients and config.grad_clip:
                    for group in groups:  # each part on its own: a discriminator's gradients must not shrink the decoder's
                        accelerator.clip_grad_norm_(group["params"], config.grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            if ema is not None:
                ema.step(accelerator.unwrap_model(model).parameters())
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"loss became {loss.item()} at step {step}")
            if step % config.log_every == 0 and accelerator.is_main_process:
                row = {"step": step, "loss": loss.item(), "lr": scheduler.get_last_lr()[0], "seconds": time.time() - started}
                row.update({k: float(v) for k, v in parts.items()})
                if writer is None:
                    writer = csv.DictWriter(log, fieldnames=list(row))
                    if new_log:
                        writer.writeheader()
                writer.writerow(row)
                log.flush()
                accelerator.print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
            out_of_time = config.max_minutes is not None and time.time() - started > 60 * config.max_minutes
            if (step + 1) % config.save_every == 0 or step + 1 == config.steps or out_of_time:
                accelerator.wait_for_everyone()
                accelerator.save_state(str(checkpoint))
                if accelerator.is_main_process:
                    state_file.write_text(json.dumps({"step": step + 1}))
            if out_of_time:
                accelerator.print(f"time budget of {config.max_minutes} min spent at step {step + 1}")
                break
    finally:
        log.close()
    plot_loss(log_path, out / "loss.png")
    unwrapped = accelerator.unwrap_model(model)
    ema_model = None
    if ema is not None:
        ema.store(unwrapped.parameters())
        ema.copy_to(unwrapped.parameters())
        ema_model = unwrapped
    return unwrapped, ema_model


def parameter_groups(model: torch.nn.Module) -> list[dict]:
    """The optimiser's parameter groups: `model.parameter_groups()` where the model has parts trained
    against each other (a GAN's discriminator: its own Adam betas, its own gradient clipping), else one."""
    if hasattr(model, "parameter_groups"):
        return [g for g in model.parameter_groups() if g["params"]]
    return [{"params": [p for p in model.parameters() if p.requires_grad]}]


def _drop_rows_from(log_path: Path, step: int) -> None:
    """A run stopped between checkpoints logged steps it will train again after resuming: drop
    them, so the log keeps one row per step in order."""
    lines = log_path.read_text().splitlines(keepends=True)
    kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) < step]
    log_path.write_text("".join(kept))


def plot_loss(csv_path: Path, png_path: Path) -> None:
    from matplotlib.figure import Figure  # no pyplot: leaves a notebook's backend alone

    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    fig = Figure(figsize=(6, 3.2), dpi=120)
    ax = fig.subplots()
    steps = [int(r["step"]) for r in rows]
    for key in [k for k in rows[0] if k not in ("step", "lr", "seconds")]:
        ax.plot(steps, [float(r[key]) for r in rows], label=key, linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path)
