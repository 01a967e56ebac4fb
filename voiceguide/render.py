"""Plan + engine -> one clip per distinct utterance, trimmed to the speech itself.

espeak-ng pads each utterance with silence of varying length. Trimming it here means
every pause and hold starts when the voice really stops, and the manifest's speech
times mark where the voice is, not where its padding is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from voiceguide.cache import ClipCache
from voiceguide.engines.base import Engine
from voiceguide.lexicon import Lexicon
from voiceguide.model import Clip, RoutinePlan, Speech
from voiceguide.pcm import trim

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


def render(texts: Iterable[str], engine: Engine, progress: Progress | None = None,
           lexicon: Lexicon | None = None, cache: ClipCache | None = None
           ) -> dict[str, Clip]:
    """Synthesize each text with the engine (which checks every clip) and trim it, or take
    it from the cache. The voice is given the text after the lexicon's respellings; clips
    stay keyed by the script's own words, which captions and the manifest show."""
    clips: dict[str, Clip] = {}
    identity = engine.identity() if cache else ""
    for text in texts:
        spoken = lexicon.apply(text) if lexicon else text
        key = cache.key(identity, engine.settings, spoken) if cache else ""
        clip = cache.get(key) if cache else None
        if clip is None:
            clip = trim(engine.synthesize(spoken))
            if cache:
                cache.put(key, clip)
        clips[text] = clip
        if progress:
            progress(text)
    return clips
