"""voiceguide: turn written guidance into calm, timed, voice-guided audio sessions."""

__version__ = "0.1.0"
