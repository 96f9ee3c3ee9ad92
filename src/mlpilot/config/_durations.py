"""Durations as people write them in flags and settings: ``90s``, ``15m``, ``1h``, ``2d``."""

from __future__ import annotations

from mlpilot.errors import ConfigError

__all__ = ["parse_duration"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float:
    """``"90s"``, ``"15m"``, ``"1h"``, ``"2d"``, ``"1w"`` (or plain seconds) to seconds."""
    raw = text.strip().lower()
    unit = raw[-1:] if raw[-1:] in _UNITS else "s"
    number = raw[:-1] if raw[-1:] in _UNITS else raw
    try:
        value = float(number) * _UNITS[unit]
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigError(
            f"{text!r} is not a duration; write a positive number with s, m, h, d or w, "
            "e.g. '1h' or '30m'"
        )
    return value
