"""Settings errors, and the parsers of setting values that raise them (for ``shared.settings`` and for the
provider modules, which read their own credentials)."""


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be greater than zero, got {raw!r}")
    return value


def positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not value > 0:
        raise SettingsError(f"{name} must be greater than zero, got {raw!r}")
    return value
