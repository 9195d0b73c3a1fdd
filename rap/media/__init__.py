"""Media in and out: audio decoding, images and faces, mp4 writing."""

from rap.media.audio import SAMPLE_RATE, AudioError, load_audio
from rap.media.video import VideoData, VideoWriter, read_video, write_video

__all__ = ["SAMPLE_RATE", "AudioError", "load_audio", "VideoData", "VideoWriter", "read_video", "write_video"]
