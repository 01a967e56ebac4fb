"""What players show beside the audio, cut from the assembled layout: chapters, captions
(WebVTT) and the playlist. Every time here comes from the same sample positions as the
manifest, so all of them line up with the decoded audio."""

from __future__ import annotations

import html
import io
from dataclasses import dataclass

from voiceguide.assemble import AssembledRoutine
from voiceguide.messages import ENGLISH, Messages
from voiceguide.model import Chapter, Cue, Speech, Track, clock, samples_to_ms

CHAPTER_TITLE_CHARS = 60


@dataclass(frozen=True)
class Line:
    """One caption: an utterance, or a hold's visible timer."""

    start_ms: int
    end_ms: int
    text: str


def track_chapters(assembled: AssembledRoutine) -> list[Chapter]:
    """A chapter per track of the full routine, titled with the technique."""
    rate = assembled.frame_rate
    ends = [*assembled.starts[1:], assembled.samples]
    return [Chapter(t.plan.technique.title, samples_to_ms(s, rate), samples_to_ms(e, rate))
            for t, s, e in zip(assembled.tracks, assembled.starts, ends, strict=True)]


def step_chapters(assembled: AssembledRoutine, say: Messages = ENGLISH) -> list[Chapter]:
    """A chapter per top-level script step, titled 'Technique: first words said'."""
    rate = assembled.frame_rate
    chapters: list[Chapter] = []
    for track, offset in zip(assembled.tracks, assembled.starts, strict=True):
        groups: list[tuple[int, int, str]] = []  # (step, start sample, title)
        for placed in track.placed:
            step = placed.item.step
            if step and (not groups or groups[-1][0] != step):
                groups.append((step, placed.start, ""))
            if groups and not groups[-1][2] and isinstance(placed.item, Speech):
                groups[-1] = (groups[-1][0], groups[-1][1], placed.item.text)
        if not groups:
            continue
        starts = [0, *[start for _, start, _ in groups[1:]]]  # the lead-in joins step 1
        ends = [*starts[1:], track.clip.samples]
        for (_, _, said), start, end in zip(groups, starts, ends, strict=True):
            title = f"{track.plan.technique.title}: {_shorten(said or say.pause_chapter())}"
            chapters.append(Chapter(title, samples_to_ms(offset + start, rate),
                                    samples_to_ms(offset + end, rate)))
    return chapters


def _shorten(text: str) -> str:
    if len(text) <= CHAPTER_TITLE_CHARS:
        return text
    return text[: CHAPTER_TITLE_CHARS - 1].rsplit(" ", 1)[0] + "…"


def caption_lines(track: Track, offset_ms: int = 0, say: Messages = ENGLISH) -> list[Line]:
    """A caption per utterance, and one per hold, from its start cue to its end cue, so
    the client sees the timer (a countdown said inside the hold gets its own caption)."""
    rate = track.clip.frame_rate
    lines = []
    hold_from: int | None = None
    for placed in track.placed:
        start = offset_ms + samples_to_ms(placed.start, rate)
        end = offset_ms + samples_to_ms(placed.end, rate)
        item = placed.item
        if isinstance(item, Speech):
            lines.append(Line(start, end, item.text))
        elif isinstance(item, Cue) and item.name == "hold_start":
            hold_from = end
        elif isinstance(item, Cue) and item.name == "hold_end" and hold_from is not None:
            seconds = round((start - hold_from) / 1000, 1)
            lines.append(Line(hold_from, start, say.hold_caption(seconds)))
            hold_from = None
    return sorted(lines, key=lambda line: (line.start_ms, line.end_ms))


def routine_caption_lines(assembled: AssembledRoutine, say: Messages = ENGLISH
                          ) -> list[Line]:
    rate = assembled.frame_rate
    return [line for track, start in zip(assembled.tracks, assembled.starts, strict=True)
            for line in caption_lines(track, samples_to_ms(start, rate), say)]


def webvtt_text(lines: list[Line], language: str | None = None) -> str:
    """WebVTT, written with webvtt-py. It writes cue text as given, so '&', '<' and '>'
    are escaped here (WebVTT would read them as entities and tags). With a language, a
    `Language:` header says it (as HLS and most caption tools read it)."""
    import webvtt  # here: a rebuild with nothing to do writes no captions

    vtt = webvtt.WebVTT(captions=[
        webvtt.Caption(clock(line.start_ms), clock(line.end_ms),
                       html.escape(line.text, quote=False)) for line in lines],
        metadata=[f"Language: {language}"] if language else None)
    out = io.StringIO()
    vtt.write(out)
    return out.getvalue()


def playlist_text(entries: list[tuple[str, int, str]]) -> str:
    """An extended M3U playlist (UTF-8): (relative file, duration ms, title) per entry."""
    rows = ["#EXTM3U"]
    for file, duration_ms, title in entries:
        rows += [f"#EXTINF:{round(duration_ms / 1000)},{title}", file]
    return "\n".join(rows) + "\n"
