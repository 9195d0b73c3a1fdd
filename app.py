"""RAP's web app: `python app.py`, then open http://127.0.0.1:7860.

The same file runs on a Hugging Face ZeroGPU Space: the generation function is wrapped in
`spaces.GPU`, which does nothing elsewhere. Settings come from the environment (see rap/app/ui.py):
RAP_WEIGHTS, RAP_MAX_AUDIO_SECONDS, RAP_MAX_FILE_SIZE, RAP_QUEUE_SIZE, RAP_CONCURRENCY;
GRADIO_SERVER_NAME / GRADIO_SERVER_PORT choose the address.
"""

from rap.app import build_demo, launch

demo = build_demo()  # loads the pipeline once, at start-up

if __name__ == "__main__":
    launch(demo)
