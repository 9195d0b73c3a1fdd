"""The Gradio app: portrait + speech in, a talking-portrait video streamed out clip by clip.

Built so that a first-time visitor succeeds without reading anything (samples, typed text,
automatic centre crop when no face is found, human error messages) and someone tuning the model
sees each knob of the paper with its default and range (audio CFG, overlap n, w and delta of
Eq. 7 with a live plot of alpha(i), steps, seed, long-video strategy).

Settings from the environment: RAP_WEIGHTS (folder, hub id or preset; default the bundled small
model, random rap-small if absent), RAP_MAX_AUDIO_SECONDS (120), RAP_MAX_FILE_SIZE ("25mb"),
RAP_QUEUE_SIZE (20), RAP_CONCURRENCY (1), RAP_GPU_SECONDS (ZeroGPU slot, 300),
RAP_ALLOW_WEIGHTS_CHOICE (1; 0 hides the weights box on a public server).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import gradio as gr
import numpy as np
import spaces
import torch

from rap.app.streaming import GenerationFiles, LiveFigures, remove_stale_folders
from rap.loading import WeightsNotFoundError
from rap.media.audio import SAMPLE_RATE, AudioError, load_audio
from rap.media.image import FaceNotFoundError, ImageError, prepare_portrait
from rap.models.hybrid_attention import hybrid_alphas
from rap.pipelines.pipeline_rap import RAPPipeline

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
ASSETS_DIR = Path(os.environ.get("RAP_ASSETS", REPO_ROOT / "assets"))
MAX_AUDIO_SECONDS = float(os.environ.get("RAP_MAX_AUDIO_SECONDS", "120"))
MAX_FILE_SIZE = os.environ.get("RAP_MAX_FILE_SIZE", "25mb")
QUEUE_SIZE = int(os.environ.get("RAP_QUEUE_SIZE", "20"))
CONCURRENCY = int(os.environ.get("RAP_CONCURRENCY", "1"))
GPU_SECONDS = int(os.environ.get("RAP_GPU_SECONDS", "300"))
ALLOW_WEIGHTS_CHOICE = os.environ.get("RAP_ALLOW_WEIGHTS_CHOICE", "1") != "0"
MAX_TTS_CHARACTERS = 1000
TTS_VOICES = {"US English": "en-us", "US English, female": "en-us+f3", "British English": "en-gb-x-rp"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".m4a")

CROP_MODES = {
    "Face (detect, enlarge the box 2x)": "face",
    "Centre square": "center",
    "Whole image (squashed)": "none",
}
LONG_VIDEO = {"Latent inheritance (RAP)": "inheritance", "Motion frames (baseline)": "motion_frames"}
GUIDANCE = {"Classifier-free (paper)": "cfg", "Tangential": "tangential"}  # rap.pipelines.guidance


# --------------------------------------------------------------------------- pipelines
class PipelineStore:
    """Pipelines by weights source, each loaded once, on first use, and moved to the GPU if any."""

    def __init__(self, default: RAPPipeline | None = None, default_source: str | None = None):
        self.default_source = default_source if default_source is not None else os.environ.get("RAP_WEIGHTS", "")
        self._pipelines: dict[str, RAPPipeline] = {}
        self._lock = threading.Lock()
        if default is not None:
            self._pipelines[""] = default

    def get(self, source: str | None = "") -> RAPPipeline:
        key = (source or "").strip()
        with self._lock:
            if key not in self._pipelines:
                target = key or self.default_source or None
                pipe = RAPPipeline.load(target, allow_random=True)
                if torch.cuda.is_available():
                    pipe = pipe.to("cuda")
                self._pipelines[key] = pipe
            return self._pipelines[key]


def model_card_status(weights_source) -> str | None:
    """The `**Status:**` line of the weights folder's MODEL_CARD.md, so an early model says so."""
    card = Path(str(weights_source)) / "MODEL_CARD.md"
    if not card.is_file():
        return None
    return next((line.strip() for line in card.read_text().splitlines() if line.startswith("**Status:**")), None)


_STORES: dict[str, PipelineStore] = {}  # the GPU function receives a key, never the models


# --------------------------------------------------------------------------- stopping
class StopRequests:
    """One stop flag per visitor session; the pipeline asks it before every denoising step."""

    _by_session: dict[str, threading.Event] = {}

    @classmethod
    def start(cls, session: str) -> threading.Event:
        event = threading.Event()
        cls._by_session[session] = event
        return event

    @classmethod
    def request(cls, session: str) -> None:
        event = cls._by_session.get(session)
        if event is not None:
            event.set()

    @classmethod
    def finish(cls, session: str, event: threading.Event) -> None:
        if cls._by_session.get(session) is event:
            cls._by_session.pop(session, None)


# --------------------------------------------------------------------------- figures
def alpha_figure(num_layers: int, weight: float, bias: float):
    """Eq. 7 across the layers: how much each layer listens to its own frame's audio window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    alphas = hybrid_alphas(num_layers, weight, bias)
    layers = np.arange(num_layers)
    figure, axis = plt.subplots(figsize=(4.6, 2.3), dpi=100)
    axis.axhspan(0, 1, color="#eef2ff", zorder=0)
    axis.plot(layers, alphas, marker="o", markersize=3.5, color="#4f46e5", linewidth=1.8)
    axis.axhline(0, color="#9ca3af", linewidth=0.8)
    axis.axhline(1, color="#9ca3af", linewidth=0.8)
    axis.set_xlabel("layer i")
    axis.set_ylabel("α(i)")
    axis.set_ylim(min(-0.6, min(alphas) - 0.1), max(1.6, max(alphas) + 0.1))
    axis.set_xlim(-0.5, num_layers - 0.5)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.text(0.01, 0.97, "window (lip detail) ↑", transform=axis.transAxes, fontsize=8, va="top", color="#374151")
    axis.text(0.01, 0.03, "full clip (global motion) ↓", transform=axis.transAxes, fontsize=8, va="bottom", color="#374151")
    axis.set_title(f"α(i) = {weight:g}·i/{num_layers} + {bias:g}", fontsize=9)
    figure.tight_layout()
    plt.close(figure)
    return figure


def _samples(folder: Path, suffixes: tuple[str, ...]) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(str(p) for p in folder.iterdir() if p.suffix.lower() in suffixes)


def _tts_available() -> bool:
    try:
        from rap.synth.speech import speak  # noqa: F401
    except ImportError:
        return False
    return True


def _describe_model(pipe: RAPPipeline) -> str:
    resolution = pipe.config.resolution
    return f"{resolution} × {resolution} at {pipe.config.fps} fps · preset {pipe.config.preset} · weights: {pipe.weights_source}"


# --------------------------------------------------------------------------- generation
def _human_error(error: Exception) -> gr.Error:
    if isinstance(error, FaceNotFoundError):
        return gr.Error(
            "No face was found in the portrait. Use a frontal photo, or tick “Allow a centre crop” to animate it anyway.",
            print_exception=False,
        )
    if isinstance(error, ImageError):
        return gr.Error(f"The portrait cannot be used: {error}.", print_exception=False)
    if isinstance(error, AudioError):
        return gr.Error(f"The speech cannot be used: {error}.", print_exception=False)
    if isinstance(error, WeightsNotFoundError):
        return gr.Error(f"The model weights could not be loaded: {error}.", print_exception=False)
    if isinstance(error, ValueError):
        return gr.Error(f"A setting is not valid: {error}.", print_exception=False)
    logger.exception("generation failed")
    return gr.Error(
        f"Generation failed unexpectedly ({type(error).__name__}). Please try again, or try other inputs.",
        print_exception=False,
    )


@spaces.GPU(duration=GPU_SECONDS)
def generate_video(
    store_key: str,
    session: str,
    image,
    audio,
    allow_center_crop: bool,
    guidance_scale: float,
    overlap: int,
    hybrid_weight: float,
    hybrid_bias: float,
    steps: int,
    seed,
    weights: str,
    long_video: str,
    crop: str,
    guidance: str = next(iter(GUIDANCE)),
    guidance_stop: float = 1.0,
):
    """Yield (segment mp4, whole mp4 or None, figures markdown, figures dict) per clip."""
    if not image:
        raise gr.Error("Please add a portrait: upload a photo, take one with the webcam, or pick a sample.")
    if not audio:
        raise gr.Error("Please add speech: upload or record audio, pick a sample, or type text and press “Speak”.")
    files = None
    stop = StopRequests.start(session)
    try:
        pipe = _STORES[store_key].get(weights if ALLOW_WEIGHTS_CHOICE else "")
        crop_mode = CROP_MODES.get(crop, crop)
        note = ""
        try:
            portrait = prepare_portrait(image, pipe.config.resolution, crop=crop_mode)
        except FaceNotFoundError:
            if not allow_center_crop:
                raise
            gr.Warning("No face was found in the portrait, so its centre square is used instead.")
            note = "no face found: centre crop used"
            portrait = prepare_portrait(image, pipe.config.resolution, crop="center")
        speech = load_audio(audio, SAMPLE_RATE, min_seconds=1.0 / pipe.config.fps)
        seconds = len(speech) / SAMPLE_RATE
        if seconds > MAX_AUDIO_SECONDS:
            raise AudioError(
                f"it lasts {seconds:.0f} s and this app accepts at most {MAX_AUDIO_SECONDS:.0f} s; please trim it"
            )
        seed_value = int(seed) if seed is not None and str(seed).strip() != "" else 0

        files = GenerationFiles(pipe.config.fps, SAMPLE_RATE)
        figures = LiveFigures(fps=pipe.config.fps)
        clips = pipe.stream(
            portrait,
            speech,
            num_inference_steps=int(steps),
            guidance_scale=float(guidance_scale),
            guidance=GUIDANCE.get(guidance, guidance),
            guidance_stop=float(guidance_stop),
            overlap=int(overlap),
            hybrid_weight=float(hybrid_weight),
            hybrid_bias=float(hybrid_bias),
            seed=seed_value,
            crop="none",  # already cropped above
            long_video=LONG_VIDEO.get(long_video, long_video),
            stop=stop.is_set,
        )
        for clip in clips:
            pieces = files.add_clip(clip.index, clip.frames, clip.audio)
            figures.add(len(clip.frames), clip.num_clips)
            for piece in pieces:
                yield piece, None, figures.markdown(note=note), figures.as_dict()
        if stop.is_set():
            return
        final = files.finish()
        yield None, final, figures.markdown(finished=True, note=note), figures.as_dict()
    except gr.Error:
        raise
    except Exception as error:  # every error reaches the visitor as a sentence
        raise _human_error(error) from None
    finally:
        StopRequests.finish(session, stop)
        if files is not None:
            files.cleanup()


def speak_text(text: str, voice_label: str):
    """Typed text -> 16 kHz speech with the offline espeak-ng voice, for visitors with no audio."""
    text = (text or "").strip()
    if not text:
        raise gr.Error("Type a sentence first, then press “Speak”.")
    if len(text) > MAX_TTS_CHARACTERS:
        raise gr.Error(f"The text is {len(text)} characters long; at most {MAX_TTS_CHARACTERS} can be spoken.")
    try:
        from rap.synth.speech import speak
    except ImportError:
        raise gr.Error("Text-to-speech is not installed on this server.") from None
    try:
        samples, _ = speak(text, voice=TTS_VOICES.get(voice_label, voice_label))
    except Exception as error:
        logger.exception("text to speech failed")
        raise gr.Error(f"The text could not be spoken ({type(error).__name__}).", print_exception=False) from None
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    return SAMPLE_RATE, pcm


# --------------------------------------------------------------------------- layout
CSS = """
#rap-title h1 {margin-bottom: 0.1em}
#rap-figures {min-height: 5.5em}
#rap-alpha {min-height: 0}
"""


def build_demo(pipe: RAPPipeline | None = None) -> gr.Blocks:
    """The app around `pipe` (tests pass a tiny one); None loads RAP_WEIGHTS or the bundled model."""
    store = PipelineStore(default=pipe)
    store_key = f"store-{id(store)}"
    _STORES[store_key] = store
    pipe = store.get("")
    num_layers = pipe.transformer.config.num_layers
    # the sliders start at the model's own w, delta: the paper's 1, 0, or the scope a Table 3 model trained with
    scope = (pipe.transformer.config.hybrid_weight, pipe.transformer.config.hybrid_bias)
    max_overlap = max(1, min(8, pipe.config.latent_frames - 1))
    portraits = _samples(ASSETS_DIR / "portraits", IMAGE_SUFFIXES)
    speeches = _samples(ASSETS_DIR / "speech", AUDIO_SUFFIXES)
    random_weights = str(pipe.weights_source).startswith("random")

    with gr.Blocks(title="RAP: real-time audio-driven portrait animation", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(
            "# RAP · talking portrait from a photo and speech\n"
            "Give a portrait photo and some speech; the video streams back clip by clip while it is generated.",
            elem_id="rap-title",
        )
        if random_weights:
            gr.Markdown(
                "⚠️ No trained weights are installed, so the model is **untrained** and the video is noise; "
                "streaming, timing and audio sync are real."
            )
        elif status := model_card_status(pipe.weights_source):
            gr.Markdown(f"ℹ️ {status}")
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=300):
                gr.Markdown("### 1 · Portrait")
                image = gr.Image(
                    label="Portrait photo",
                    type="filepath",
                    sources=["upload", "webcam", "clipboard"],
                    height=260,
                    elem_id="rap-image",
                )
                if portraits:
                    gr.Examples([[p] for p in portraits], inputs=[image], label="Sample portraits", examples_per_page=6)
                allow_center_crop = gr.Checkbox(
                    value=True,
                    label="Allow a centre crop",
                    info="If no face is found, animate the centre square instead of stopping.",
                )
                gr.Markdown("### 2 · Speech")
                audio = gr.Audio(label="Speech", type="filepath", sources=["upload", "microphone"], elem_id="rap-audio")
                if speeches:
                    gr.Examples([[s] for s in speeches], inputs=[audio], label="Sample speech", examples_per_page=6)
                with gr.Group(visible=_tts_available()):
                    tts_text = gr.Textbox(
                        label="No audio file? Type text to speak",
                        placeholder="Hello! I am a talking portrait.",
                        lines=2,
                        max_length=MAX_TTS_CHARACTERS,
                    )
                    with gr.Row():
                        tts_voice = gr.Dropdown(list(TTS_VOICES), value="US English", label="Voice", scale=2)
                        tts_button = gr.Button("Speak", scale=1)

            with gr.Column(scale=4, min_width=300):
                gr.Markdown("### 3 · Settings (paper defaults)")
                guidance_scale = gr.Slider(1, 10, value=5.0, step=0.5, label="Audio CFG scale",
                                           info="5 is the paper's; 1 turns guidance off. The bundled small model syncs best at 1 (its decoder draws the mouth from the sound), keeps its mouth shut in silence there and runs faster.")  # fmt: skip
                overlap = gr.Slider(1, max_overlap, value=min(3, max_overlap), step=1, label="Overlap n (latent frames)",
                                    info="Latent frames each clip inherits from the previous one.")  # fmt: skip
                with gr.Row():
                    hybrid_weight = gr.Slider(-1, 2, value=scope[0], step=0.05, label="w (hybrid attention slope)")
                    hybrid_bias = gr.Slider(-0.5, 1, value=scope[1], step=0.05, label="δ (hybrid attention offset)")
                alpha_plot = gr.Plot(value=alpha_figure(num_layers, *scope), label="α(i) per layer (Eq. 7)",
                                     elem_id="rap-alpha")  # fmt: skip
                with gr.Row():
                    steps = gr.Slider(1, 50, value=pipe.config.default_steps, step=1, label="Denoising steps")
                    seed = gr.Number(value=0, precision=0, label="Seed", minimum=0)
                with gr.Accordion("Advanced", open=False):
                    weights = gr.Textbox(
                        label="Weights: folder, hub id or preset (empty: the default model)",
                        placeholder="models/rap-small · rap-small · rap-1.3b",
                        visible=ALLOW_WEIGHTS_CHOICE,
                    )
                    long_video = gr.Radio(list(LONG_VIDEO), value=next(iter(LONG_VIDEO)), label="Long-video strategy")
                    crop = gr.Radio(list(CROP_MODES), value=next(iter(CROP_MODES)), label="Portrait crop")
                    guidance = gr.Radio(list(GUIDANCE), value=next(iter(GUIDANCE)), label="Audio guidance",
                                        info="Tangential CFG syncs the bundled model a little better and opens its mouth less in silence.")  # fmt: skip
                    guidance_stop = gr.Slider(0.05, 1, value=1.0, step=0.05, label="Guided fraction of the steps",
                                              info="1 guides every step (paper). 0.5 guides the first half and skips the unconditional pass after: faster, and on the bundled model as good or better.")  # fmt: skip
                    model_info = gr.Textbox(
                        value=_describe_model(pipe), label="Resolution (fixed by the loaded model)", interactive=False
                    )

            with gr.Column(scale=5, min_width=320):
                gr.Markdown("### 4 · Video")
                video = gr.Video(label="Talking portrait (streams as it is generated)", streaming=True, autoplay=True,
                                 height=360, elem_id="rap-video")  # fmt: skip
                with gr.Row():
                    generate_button = gr.Button("Generate", variant="primary", scale=3, elem_id="rap-generate")
                    stop_button = gr.Button("Stop", variant="stop", scale=1, elem_id="rap-stop")
                figures_text = gr.Markdown("Figures appear here as clips arrive.", elem_id="rap-figures")
                download = gr.File(label="Download the whole video (mp4)", interactive=False)
                with gr.Accordion("Figures as JSON", open=False):
                    figures_json = gr.JSON(label="Live figures")

        # Events
        for slider in (hybrid_weight, hybrid_bias):
            slider.change(
                lambda w, d: alpha_figure(num_layers, w, d),
                [hybrid_weight, hybrid_bias],
                alpha_plot,
                queue=False,
                show_progress="hidden",
            )
        tts_button.click(speak_text, [tts_text, tts_voice], audio, api_name="speak")
        if ALLOW_WEIGHTS_CHOICE:
            def load_weights(source):
                chosen = store.get(source)
                config = chosen.transformer.config
                return _describe_model(chosen), config.hybrid_weight, config.hybrid_bias

            weights.submit(load_weights, weights, [model_info, hybrid_weight, hybrid_bias], api_name=False)

        def run(image, audio, allow_center_crop, guidance_scale, overlap, hybrid_weight, hybrid_bias, steps, seed,
                weights, long_video, crop, guidance, guidance_stop, request: gr.Request):  # fmt: skip
            session = getattr(request, "session_hash", None) or "anonymous"
            remove_stale_folders()
            yield from generate_video(
                store_key, session, image, audio, allow_center_crop, guidance_scale, overlap, hybrid_weight,
                hybrid_bias, steps, seed, weights, long_video, crop, guidance, guidance_stop,
            )  # fmt: skip

        def request_stop(request: gr.Request):
            StopRequests.request(getattr(request, "session_hash", None) or "anonymous")

        generation = generate_button.click(
            lambda: (None, None),
            None,
            [video, download],
            queue=False,
            show_progress="hidden",
        ).then(
            run,
            [image, audio, allow_center_crop, guidance_scale, overlap, hybrid_weight, hybrid_bias, steps, seed,
             weights, long_video, crop, guidance, guidance_stop],  # fmt: skip
            [video, download, figures_text, figures_json],
            api_name="generate",
            concurrency_limit=CONCURRENCY,
            concurrency_id="rap-generation",
        )
        stop_button.click(request_stop, None, None, cancels=[generation], queue=False)

    demo.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
    return demo


def launch(demo: gr.Blocks, **kwargs):
    """Launch with the upload limit and the sample folder served."""
    options = dict(max_file_size=MAX_FILE_SIZE, allowed_paths=[str(ASSETS_DIR)], show_error=True)
    options.update(kwargs)
    return demo.launch(**options)
