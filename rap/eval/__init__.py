"""Lip-sync meter for the synthetic world: a mouth reader (CNN on frames), an audio branch
(log-mel -> implied mouth opening) and a SyncNet-like correlation score."""

from rap.eval.sync import SyncResult, correlation_by_offset, pearson, sync_score, sync_score_file


def read_mouth(frames, model=None):
    from rap.eval.mouth_reader import read_mouth as _read

    return _read(frames, model)


def opening_from_audio(audio, frames=None):
    from rap.eval.audio_opening import opening_from_audio as _open

    return _open(audio, frames)


__all__ = ["SyncResult", "sync_score", "sync_score_file", "correlation_by_offset", "pearson", "read_mouth", "opening_from_audio"]
