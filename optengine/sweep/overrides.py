"""Command-line overrides of a sweep spec: ``optengine run SPEC train.epochs=5 optimizer.lr=[1e-3,1e-2]``.

Each override is ``dotted.key=VALUE``. The value is read as TOML (``5``, ``1e-3``, ``[1e-3, 1e-2]``,
``true``, ``"text"``, ``{norm = 1.0}``); bare words are strings, also inside a list
(``optimizer.name=[adam,sgd]``). A key may index a list: ``model.layers[0].channels=8``. Overrides
apply to the spec's TOML table before validation, so they are checked like the file (an unknown key
or a bad value names its field), and the spec saved with the results (``spec.toml``) is the
overridden one, with a header naming the file and the overrides.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib

from .problems import SpecError

_KEY = re.compile(r"^[A-Za-z_][\w-]*(\[\d+\])*$")
_BARE = re.compile(r"^[A-Za-z_][\w.+-]*$")


def parse(text: str) -> tuple[list, object]:
    """``"train.epochs=5"`` -> (["train", "epochs"], 5); list indices as ints in the path."""
    if not isinstance(text, str) or "=" not in text:
        raise SpecError([("override", f"{text!r} is not KEY=VALUE (e.g. train.epochs=5 or optimizer.lr=[1e-3,1e-2])")])
    key, _, value = text.partition("=")
    key = key.strip()
    path = []
    for part in key.split("."):
        if not _KEY.match(part):
            raise SpecError([("override", f"{text!r}: {key!r} is not a dotted key (e.g. optimizer.lr, "
                                          "model.layers[0].channels)")])
        name, *idx = re.split(r"\[(\d+)\]", part)
        path.append(name)
        path += [int(i) for i in idx if i != ""]
    return path, _value(value.strip(), text)


def _value(value: str, text: str):
    if value == "":
        raise SpecError([("override", f"{text!r} has no value after '='")])
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    if _BARE.match(value):
        return value
    if value.startswith("[") and value.endswith("]"):
        items = [v.strip() for v in value[1:-1].split(",") if v.strip()]
        quoted = ", ".join(v if not _BARE.match(v) or _is_toml(v) else json.dumps(v) for v in items)
        try:
            return tomllib.loads(f"v = [{quoted}]")["v"]
        except tomllib.TOMLDecodeError:
            pass
    raise SpecError([("override", f"{text!r}: cannot read the value {value!r} (write it as TOML: a number, "
                                  "true/false, \"text\", [a, b] or {key = value})")])


def _is_toml(word: str) -> bool:
    try:
        tomllib.loads(f"v = {word}")
        return True
    except tomllib.TOMLDecodeError:
        return False


def apply(raw: dict, overrides) -> dict:
    """A copy of ``raw`` with every override set (tables created as needed)."""
    out = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse(text)
        node = out
        for i, key in enumerate(path[:-1]):
            nxt = path[i + 1]
            where = ".".join(str(p) for p in path[:i + 1])
            if isinstance(key, int):
                if not isinstance(node, list) or key >= len(node):
                    raise SpecError([("override", f"{text!r}: {where} has no item {key}")])
                node = node[key]
                continue
            if not isinstance(node, dict):
                raise SpecError([("override", f"{text!r}: {where} is not a table")])
            if key not in node or not isinstance(node[key], (dict, list)):
                node[key] = [] if isinstance(nxt, int) else {}
            node = node[key]
        last = path[-1]
        if isinstance(last, int):
            if not isinstance(node, list) or last >= len(node):
                raise SpecError([("override", f"{text!r}: the list has no item {last}")])
        elif not isinstance(node, dict):
            raise SpecError([("override", f"{text!r}: {'.'.join(map(str, path[:-1]))} is not a table")])
        node[last] = value
    return out


def dumps(raw: dict, header: str = "") -> str:
    """``raw`` as TOML text (tables, arrays, inline tables inside arrays), readable by ``tomllib``."""
    lines = [f"# {line}" for line in header.splitlines()] if header else []
    scalars = {k: v for k, v in raw.items() if not _is_table(v)}
    for k, v in scalars.items():
        lines.append(f"{_key(k)} = {_inline(v)}")
    for k, v in raw.items():
        if _is_table(v):
            _table(lines, [k], v)
    return "\n".join(lines) + "\n"


def _is_table(v) -> bool:
    return isinstance(v, dict)


def _table(lines, path, table):
    plain = {k: v for k, v in table.items() if not _is_table(v)}
    subs = {k: v for k, v in table.items() if _is_table(v)}
    if plain or not subs:
        lines.append("")
        lines.append(f"[{'.'.join(_key(p) for p in path)}]")
        for k, v in plain.items():
            lines.append(f"{_key(k)} = {_inline(v)}")
    for k, v in subs.items():
        _table(lines, path + [k], v)


def _key(k: str) -> str:
    return k if re.match(r"^[A-Za-z0-9_-]+$", k) else json.dumps(k)


def _inline(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if isinstance(v, float) and v == v and v not in (float("inf"), float("-inf")) else (
            str(v) if isinstance(v, int) else ("nan" if v != v else ("inf" if v > 0 else "-inf")))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_inline(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_inline(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")
