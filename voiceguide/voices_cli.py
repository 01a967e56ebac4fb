"""`voiceguide voices`: list an engine's voices; add or download Piper voices.

Annotations are evaluated when the commands are defined, as in voiceguide.cli (typer
reads them on every run)."""

from pathlib import Path
from typing import Annotated

import typer

from voiceguide import voices as piper_voices
from voiceguide.engines import make_engine
from voiceguide.engines.base import VoiceSettings
from voiceguide.library import find_scripts, shown_path

voices_app = typer.Typer(help="List the voices an engine offers; add or download Piper "
                         "voices.")

_DEFAULT = VoiceSettings()


@voices_app.callback(invoke_without_command=True)
def voices_command(
    ctx: typer.Context,
    engine: Annotated[str, typer.Option(help="Speech engine.")] = _DEFAULT.engine,
    language: Annotated[str | None, typer.Option(help="Only voices for this language, "
                                                 "e.g. en.")] = None,
    scripts: Annotated[Path | None, typer.Option(
        "--scripts", help="Folder with the scripts (Piper voices in its voices/ folder "
        "are listed too) (default: ./scripts if it exists)")] = None,
) -> None:
    """List the voices an engine offers (use the id with --voice; espeak voices also take
    a variant such as +f3; Piper voices show their licence and where they live)."""
    if ctx.invoked_subcommand is not None:
        return
    if engine == piper_voices.ENGINE:
        root = find_scripts(scripts) if scripts or Path("scripts").is_dir() else None
        for line in piper_voices.describe(root, language):
            typer.echo(line)
        return
    with make_engine(VoiceSettings(engine=engine)) as eng:
        found = eng.voices()
    voices = [v for v in found if "variant" not in v.languages and (
        not language or any(lang.startswith(language) for lang in v.languages))]
    # Variants change any voice's sound (en-us+f3): listed whatever the language.
    variants = sorted((v for v in found if "variant" in v.languages), key=lambda v: v.id)
    base, _, variant = _DEFAULT.voice.partition("+")
    typer.echo("Voices (give the id to --voice):")
    for v in voices:
        mark = f"default, as {_DEFAULT.voice}" if v.id.rpartition("/")[2] == base else ""
        typer.echo(f"  {v.id:<24} {v.name:<32} {', '.join(v.languages):<20} {mark}".rstrip())
    if variants:
        typer.echo(f"\nVariants (add one to a voice id, e.g. {_DEFAULT.voice}):")
        for v in variants:
            mark = "default" if v.id == f"+{variant}" else ""
            typer.echo(f"  {v.id:<24} {v.name:<32} {mark}".rstrip())


def _installed(voice: piper_voices.VoiceFiles) -> None:
    typer.echo(f"Installed {voice.name} in {shown_path(voice.model.parent)}/")
    typer.echo(f"Use it with: voiceguide build --engine piper --voice {voice.name}")


@voices_app.command("add")
def add_command(
    model: Annotated[Path, typer.Argument(
        help="A Piper voice's .onnx file, with its .onnx.json beside it.")],
) -> None:
    """Install a Piper voice from a file into your voice folder, after checking that it
    loads and speaks (a broken one is refused, nothing installed)."""
    _installed(piper_voices.add_voice(model))


@voices_app.command("download")
def download_command(
    name: Annotated[str, typer.Argument(help="A voice name, e.g. en_US-lessac-medium.")],
    mirror: Annotated[str | None, typer.Option(
        help="Fetch from this address instead of the public Piper voice collection "
        "(laid out the same way).")] = None,
) -> None:
    """Download a Piper voice with Piper's own downloader, check it, and install it into
    your voice folder. Check the voice's licence (its MODEL_CARD) before publishing."""
    _installed(piper_voices.download_voice(name, mirror))
