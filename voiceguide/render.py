"""Plan + engine -> one clip per distinct utterance, trimmed to the speech itself.

espeak-ng pads each utterance with silence of varying length. Trimming it here means
every pause and hold starts when the voice really stops, and the manifest's speech
times mark where the voice is, not where its padding is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from queue import Queue

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


# espeak-ng's output depends on everything its process said before (a sentence said
# twice in a row differs, by up to 10 ms in length; measured here, and restarting the
# library does not reset it). So speech is said in fixed blocks of consecutive texts,
# each by a fresh worker process: the clips are the same whether the blocks run one after
# another or side by side, and `--jobs` changes only how many run at once. A block is
# long enough to repay a worker's start (about 0.15 s; a line takes about 20 ms).
# An engine that can start afresh without a new process (Piper: see Engine.reset) keeps
# its worker from block to block; the blocks, and so the clips, are the same.
BLOCK_TEXTS = 24


def blocks(texts: Sequence[str]) -> list[Sequence[str]]:
    """`texts` in consecutive blocks of BLOCK_TEXTS; a short remainder joins the last."""
    count = max(1, round(len(texts) / BLOCK_TEXTS))
    size = -(-len(texts) // count)
    return [texts[n:n + size] for n in range(0, len(texts), size)]


# A voice is given at most this many characters at once: long single calls slow down
# faster than linearly (pyttsx3: 1000 words 3 s, 4000 words 24 s) and may run into the
# worker's time limit. A longer line is said clause by clause, joined by a short breath.
MAX_UTTERANCE_CHARS = 400
CLAUSE_BREATH_MS = 250
_SPLITTERS = (re.compile(r"(?<=[.!?\u2026])\s+"),  # sentence ends
              re.compile(r"(?<=[,;:\u2013\u2014])\s+"),  # clauses
              re.compile(r"\s+"))  # words


def clauses(text: str, limit: int = MAX_UTTERANCE_CHARS) -> list[str]:
    """`text` cut into pieces of at most `limit` characters: at sentence ends where it
    can, else at commas, semicolons and dashes, else between words (a word longer than
    `limit` stays whole)."""
    if len(text) <= limit:
        return [text]
    for splitter in _SPLITTERS:
        parts = splitter.split(text)
        if len(parts) > 1:
            break
    else:
        return [text]
    pieces: list[str] = []
    current = ""
    for part in parts:
        joined = f"{current} {part}" if current else part
        if current and len(joined) > limit:
            pieces.append(current)
            current = part
        else:
            current = joined
    pieces.append(current)  # every piece is shorter than `text`: the recursion ends
    return [clause for piece in pieces for clause in clauses(piece, limit)]


def say_line(engine: Engine, text: str) -> Clip:
    """One line of a script, trimmed to the voice: said whole, or clause by clause when
    it is too long for one utterance (see MAX_UTTERANCE_CHARS)."""
    parts = [trim(engine.synthesize(part)) for part in clauses(text)]
    if len(parts) == 1:
        return parts[0]
    rate = parts[0].frame_rate
    breath = bytes(2 * (CLAUSE_BREATH_MS * rate // 1000))
    return Clip(breath.join(part.pcm for part in parts), rate)


def render(texts: Iterable[str], engines: Engine | Sequence[Engine],
           progress: Progress | None = None, lexicon: Lexicon | None = None,
           cache: ClipCache | None = None, meanwhile: Callable[[], None] | None = None,
           unread: bool = False) -> dict[str, Clip]:
    """Synthesize each text (the engine checks every clip) and trim it, or take it from
    the cache. The voice is given the text after the lexicon's respellings; clips stay
    keyed by the script's own words, which captions and the manifest show. What the cache
    lacks is said in blocks (see BLOCK_TEXTS), as many at once as there are engines;
    `meanwhile` runs beside them (the workers do the speaking: this process waits).
    With `unread`, cached clips come as their entries' headers give them, their audio
    read when first used (ClipCache.peek: DamagedEntry then, if it was damaged)."""
    pool = [engines] if isinstance(engines, Engine) else list(engines)
    identity = pool[0].identity() if cache else ""
    clips: dict[str, Clip | None] = {}
    spoken: dict[str, str] = {}
    keys: dict[str, str] = {}
    for text in texts:
        spoken[text] = lexicon.apply(text) if lexicon else text
        keys[text] = cache.key(identity, pool[0].settings, spoken[text]) if cache else ""
        clips[text] = (cache.peek if unread else cache.get)(keys[text]) if cache else None
        if clips[text] is not None and progress:
            progress(text)
    idle: Queue[Engine] = Queue()
    for engine in pool:
        idle.put(engine)

    def say(block: Sequence[str]) -> None:
        engine = idle.get()
        try:
            for text in block:
                clip = say_line(engine, spoken[text])
                if cache:
                    cache.put(keys[text], clip)
                clips[text] = clip
                if progress:
                    progress(text)
        finally:
            try:
                engine.reset()  # the next block starts as a fresh worker would
            finally:
                idle.put(engine)

    missing = [text for text, clip in clips.items() if clip is None]
    if missing:
        # each engine is a worker process: the threads only wait on them
        with ThreadPoolExecutor(max_workers=len(pool) + 1) as threads:
            done = [threads.submit(say, block) for block in blocks(missing)]
            if meanwhile:
                done.append(threads.submit(meanwhile))
            for future in done:
                future.result()
    return {text: clip for text, clip in clips.items() if clip is not None}
