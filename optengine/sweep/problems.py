"""Collecting every problem of a spec before reporting: ``SpecError`` lists them all."""

from __future__ import annotations

from contextlib import contextmanager

from ..errors import ConfigError


class SpecError(ConfigError):
    """An invalid sweep spec. ``problems`` is a list of ``(toml_path, message)``; all are reported at once."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "spec"):
        self.problems = list(problems)
        self.source = source
        lines = [f"  {path}: {msg}" for path, msg in self.problems]
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in {source}"
        ConfigError.__init__(self, self.problems[0][0] if self.problems else "spec", "")
        self.args = (head + ":\n" + "\n".join(lines),)

    def __str__(self):
        return self.args[0]


class Problems:
    """A list of ``(path, message)``; ``with problems.at(): ...`` records a ConfigError instead of raising."""

    def __init__(self):
        self.items: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        if (path, message) not in self.items:
            self.items.append((path, message))

    def add_error(self, exc: ConfigError) -> None:
        text = str(exc)
        prefix = f"{exc.field}: "
        self.add(exc.field, text[len(prefix):] if text.startswith(prefix) else text)

    @contextmanager
    def at(self):
        try:
            yield
        except SpecError as exc:
            for path, msg in exc.problems:
                self.add(path, msg)
        except ConfigError as exc:
            self.add_error(exc)

    def raise_if_any(self, source: str = "spec") -> None:
        if self.items:
            raise SpecError(self.items, source)

    def __bool__(self):
        return bool(self.items)
