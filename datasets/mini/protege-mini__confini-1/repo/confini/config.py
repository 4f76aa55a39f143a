"""The parsed configuration object."""

from .errors import ConfigError
from .interpolate import interpolate

_TRUE = {"1", "yes", "true", "on"}
_FALSE = {"0", "no", "false", "off"}
_MISSING = object()


class Config:
    def __init__(self, sections, defaults=None):
        self._sections = sections
        self._defaults = defaults or {}

    def sections(self):
        return list(self._sections)

    def has_section(self, name):
        return name in self._sections

    def keys(self, section):
        merged = dict(self._defaults)
        merged.update(self._sections[section])
        return list(merged)

    def get_raw(self, section, key):
        """Value before interpolation, falling back to the defaults section."""
        values = self._sections.get(section)
        if values is None:
            return None
        if key in values:
            return values[key]
        return self._defaults.get(key)

    def get(self, section, key, default=_MISSING):
        if section not in self._sections:
            if default is _MISSING:
                raise ConfigError(f"no section [{section}]")
            return default
        raw = self.get_raw(section, key.lower())
        if raw is None and key.lower() not in self._sections[section] and key.lower() not in self._defaults:
            if default is _MISSING:
                raise ConfigError(f"no option {key!r} in section [{section}]")
            return default
        return interpolate(self, section, raw)

    def getint(self, section, key, default=_MISSING):
        value = self.get(section, key, default)
        return value if value is default else int(value)

    def getfloat(self, section, key, default=_MISSING):
        value = self.get(section, key, default)
        return value if value is default else float(value)

    def getboolean(self, section, key, default=_MISSING):
        value = self.get(section, key, default)
        if value is default:
            return value
        lowered = str(value).lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"not a boolean: {value!r}")

    def getlist(self, section, key, sep=","):
        value = self.get(section, key)
        items = value.replace("\n", sep).split(sep)
        return [item.strip() for item in items if item.strip()]

    def as_dict(self):
        return {name: {k: self.get(name, k) for k in self.keys(name)} for name in self._sections}
