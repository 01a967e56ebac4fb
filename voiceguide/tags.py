"""Tags, cover and chapters, written with mutagen after encoding.

MP3 and WAV get ID3v2.3 (the version phones and Windows read most reliably): CHAP frames
plus a top-level, ordered CTOC (phone players show chapters only with it), APIC as
*front cover* (type 3; pydub's own tagging writes type 0, "other"), COMM and TLAN.
The comment is the summary with the voice's credit on a line below it (players show only
the comment without a description; ID3 also gets a COMM "voice" with the credit alone).
M4A gets iTunes atoms (its chapters are written by ffmpeg while encoding, and kept
here); Ogg files get Vorbis comments, chapters as CHAPTERnnn / CHAPTERnnnNAME.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from voiceguide.model import Chapter, clock

GENRE = "Health & Fitness"  # the podcast category guided self-care lives in

# ISO 639-1 -> 639-2/T for ID3's TLAN and COMM; codes not listed are written as given.
_LANGUAGE_3 = {"en": "eng", "fr": "fra", "de": "deu", "es": "spa", "it": "ita",
               "pt": "por", "nl": "nld", "sv": "swe", "da": "dan", "no": "nor",
               "fi": "fin", "pl": "pol", "cs": "ces", "el": "ell", "tr": "tur"}


def language_3(code: str) -> str:
    base = code.split("-")[0].lower()
    return _LANGUAGE_3.get(base, base if len(base) == 3 else "und")


@dataclass(frozen=True)
class Tags:
    title: str
    artist: str  # the clinic
    album: str  # the routine
    track: int
    tracks: int
    year: str
    comment: str  # the technique's or routine's summary
    language: str  # ISO 639-1 or -2
    cover: bytes
    cover_mime: str
    website: str = ""
    chapters: tuple[Chapter, ...] = field(default=())
    voice: str = ""  # "Voice: NAME (ENGINE) - LICENCE"

    @property
    def full_comment(self) -> str:
        """The comment players show: the summary, then the voice on a line of its own
        (players show one comment, the one without a description)."""
        return f"{self.comment}\n{self.voice}" if self.voice else self.comment


def write_tags(path: Path, audio_format: str, tags: Tags) -> None:
    if audio_format in ("mp3", "wav"):
        _write_id3(path, audio_format, tags)
    elif audio_format == "m4a":
        _write_mp4(path, tags)
    elif audio_format in ("opus", "ogg"):
        _write_vorbis_comments(path, audio_format, tags)


# mutagen is imported by each writer: a rebuild with nothing to do writes no tags.


def _write_id3(path: Path, audio_format: str, tags: Tags) -> None:
    from mutagen.id3 import (
        APIC,
        CHAP,
        COMM,
        CTOC,
        ID3,
        TALB,
        TCON,
        TDRC,
        TIT2,
        TLAN,
        TPE1,
        TPE2,
        TRCK,
        WXXX,
        CTOCFlags,
        PictureType,
    )
    from mutagen.wave import WAVE

    id3 = ID3()
    lang = language_3(tags.language)
    id3.add(TIT2(encoding=3, text=tags.title))
    id3.add(TPE1(encoding=3, text=tags.artist))
    id3.add(TPE2(encoding=3, text=tags.artist))
    id3.add(TALB(encoding=3, text=tags.album))
    id3.add(TRCK(encoding=3, text=f"{tags.track}/{tags.tracks}"))
    id3.add(TCON(encoding=3, text=GENRE))
    id3.add(TDRC(encoding=3, text=tags.year))
    id3.add(COMM(encoding=3, lang=lang, desc="", text=tags.full_comment))
    if tags.voice:  # the voice alone, for tools
        id3.add(COMM(encoding=3, lang=lang, desc="voice", text=tags.voice))
    id3.add(TLAN(encoding=3, text=lang))
    if tags.website:
        id3.add(WXXX(encoding=3, desc="", url=tags.website))
    id3.add(APIC(encoding=3, mime=tags.cover_mime, type=PictureType.COVER_FRONT,
                 desc="Cover", data=tags.cover))
    ids = _chapter_ids(tags.chapters)
    for element_id, chapter in zip(ids, tags.chapters, strict=True):
        id3.add(CHAP(element_id=element_id, start_time=chapter.start_ms,
                     end_time=chapter.end_ms, sub_frames=[TIT2(encoding=3,
                                                               text=chapter.title)]))
    if ids:
        id3.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                     child_element_ids=ids, sub_frames=[TIT2(encoding=3, text=tags.album)]))
    if audio_format == "wav":
        wave = WAVE(str(path))
        wave.add_tags()
        assert wave.tags is not None
        wave.tags.update(id3)
        wave.save(v2_version=3)
    else:
        id3.save(str(path), v2_version=3)


def _chapter_ids(chapters: tuple[Chapter, ...]) -> list[str]:
    """Element ids that keep the CHAP frames in chapter order in the file.

    mutagen writes frames of one kind shortest first, and ffprobe (and players built on
    it) list CHAP frames in file order, not by time. So each id is padded until its
    frame is longer than the one before: file order is then chapter order. A frame's
    length grows with its id and its title (UTF-16 in ID3v2.3).
    """
    ids: list[str] = []
    previous = -1
    for n, chapter in enumerate(chapters):
        base = len(chapter.title.encode("utf-16-le"))
        element_id = f"chp{n}"
        while base + len(element_id) <= previous:
            element_id = "chp0" + element_id[3:]
        previous = base + len(element_id)
        ids.append(element_id)
    return ids


def _write_mp4(path: Path, tags: Tags) -> None:
    from mutagen.mp4 import MP4, MP4Cover

    mp4 = MP4(str(path))
    if mp4.tags is None:
        mp4.add_tags()
    assert mp4.tags is not None
    image_format = MP4Cover.FORMAT_PNG if tags.cover_mime == "image/png" else \
        MP4Cover.FORMAT_JPEG
    mp4.tags.update({
        "\xa9nam": [tags.title], "\xa9ART": [tags.artist], "aART": [tags.artist],
        "\xa9alb": [tags.album], "trkn": [(tags.track, tags.tracks)], "\xa9gen": [GENRE],
        "\xa9day": [tags.year], "\xa9cmt": [tags.full_comment], "desc": [tags.comment],
        "covr": [MP4Cover(tags.cover, imageformat=image_format)],
    })
    mp4.save()


def _write_vorbis_comments(path: Path, audio_format: str, tags: Tags) -> None:
    from mutagen.flac import Picture
    from mutagen.id3 import PictureType
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    ogg = OggOpus(str(path)) if audio_format == "opus" else OggVorbis(str(path))
    picture = Picture()
    picture.type = PictureType.COVER_FRONT
    picture.mime = tags.cover_mime
    picture.desc = "Cover"
    picture.data = tags.cover
    assert ogg.tags is not None
    for n, chapter in enumerate(tags.chapters):  # the Vorbis comment chapter convention
        ogg.tags[f"CHAPTER{n:03d}"] = clock(chapter.start_ms)
        ogg.tags[f"CHAPTER{n:03d}NAME"] = chapter.title
    if tags.voice:
        ogg.tags["voice"] = tags.voice
    ogg.tags.update({
        "title": tags.title, "artist": tags.artist, "album": tags.album,
        "tracknumber": str(tags.track), "tracktotal": str(tags.tracks), "genre": GENRE,
        "date": tags.year, "comment": tags.full_comment, "language": tags.language,
        "metadata_block_picture": base64.b64encode(picture.write()).decode("ascii"),
    })
    ogg.save()

