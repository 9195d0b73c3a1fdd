"""The Gradio app (`python app.py`): build it around any pipeline with `build_demo(pipe)`."""

from rap.app.ui import build_demo, launch

__all__ = ["build_demo", "launch"]
