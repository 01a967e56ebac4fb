"""Plan + engine -> one clip per distinct utterance, trimmed to the speech itself.

espeak-ng pads each utterance with silence of varying length. Trimming it here means
every pause and hold starts when the voice really stops, and the manifest's speech
times mark where the voice is, not where its padding is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from voiceguide.engines.base import Engine
from voiceguide.model import Clip, RoutinePlan, Speech

SILENCE_THRESHOLD = 100  # |sample| below this (about -50 dBFS) counts as silence
KEEP_MARGIN_MS = 30  # keep a little of the padding so no consonant is clipped

Progress = Callable[[str], None]


def utterances(plans: Iterable[RoutinePlan]) -> list[str]:
    """Each distinct text once, in the order it is first spoken."""
    seen: dict[str, None] = {}
    for plan in plans:
        for track in plan.tracks:
            for item in track.items:
                if isinstance(item, Speech):
                    seen.setdefault(item.text, None)
    return list(seen)


def render(texts: Iterable[str], engine: Engine,
           progress: Progress | None = None) -> dict[str, Clip]:
    """Synthesize each text with the engine (which checks every clip) and trim it."""
    clips: dict[str, Clip] = {}
    for text in texts:
        clips[text] = trim(engine.synthesize(text))
        if progress:
            progress(text)
    return clips


def trim(clip: Clip) -> Clip:
    samples = np.frombuffer(clip.pcm, dtype="<i2")
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > SILENCE_THRESHOLD)
    if loud.size == 0:
        return clip  # the engine's own check rejects silent clips; nothing to trim here
    margin = clip.frame_rate * KEEP_MARGIN_MS // 1000
    start = max(int(loud[0]) - margin, 0)
    end = min(int(loud[-1]) + 1 + margin, samples.size)
    return Clip(samples[start:end].tobytes(), clip.frame_rate)
