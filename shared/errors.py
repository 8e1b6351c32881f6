"""Errors more than one part of ``shared`` raises."""


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""
