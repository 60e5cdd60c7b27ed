"""YAML reading that remembers where each value came from, for error messages with line numbers.

Shared by every YAML input (plans, ignore files, questionnaires): one place turns a YAML
problem into a :class:`~iotvet.core.errors.UserError` naming file, line and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from iotvet.core.errors import Source, UserError

Path_ = tuple[str | int, ...]
MAX_NODES = 200_000  # an alias bomb expands past this long before memory is at risk


@dataclass
class YamlDocument:
    """Plain Python data from a YAML file plus the line of every value in it."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of the deepest part of ``path`` that exists in the document."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def source(self, path: Path_) -> Source:
        """Where ``path`` sits, as a :class:`Source` (file, line, dotted field)."""
        return Source(self.file, self.line_of(path), format_path(path) or None)


def format_path(path: Path_) -> str:
    """``("identities", 0, "auth")`` -> ``identities[0].auth``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[Path_, int] = {}
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise UserError(f"the document expands to more than {MAX_NODES} values (alias bomb?)",
                            Source(self.file, node.start_mark.line + 1))
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            merged: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # << : own keys win, earlier merges win
                    sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                    for src in sources:
                        if not isinstance(src, yaml.MappingNode):
                            raise UserError("<< merges a mapping or a list of mappings",
                                            Source(self.file, src.start_mark.line + 1, format_path(path) or None))
                        for k, v in self.build(src, path).items():
                            merged.setdefault(k, v)
                    continue
                key = self.build(key_node, (*path, "<key>"))
                if not isinstance(key, str | int | float | bool) or key is None:
                    where = Source(self.file, key_node.start_mark.line + 1, format_path(path) or None)
                    raise UserError("mapping keys must be plain strings", where)
                key = str(key)
                if key in out:
                    raise UserError(f"key {key!r} appears twice",
                                    Source(self.file, key_node.start_mark.line + 1, format_path((*path, key))))
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                out[key] = self.build(value_node, (*path, key))
            self.lines.pop((*path, "<key>"), None)
            return {**merged, **out}
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        except Exception:  # PyYAML constructors raise ValueError, IndexError, KeyError ... (!!int x, !!bool x)
            problem = f"not a valid {node.tag.rsplit(':', 1)[-1]}"
        raise UserError(f"unreadable value: {problem}",
                        Source(self.file, node.start_mark.line + 1, format_path(path) or None))


def load_yaml(text: str, file: str) -> YamlDocument:
    """Parse one YAML document; any problem becomes a UserError naming the file and line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "not valid YAML"
        if exc.context_mark is not None and exc.context and (mark is None or mark.index >= len(text.rstrip())):
            mark, problem = exc.context_mark, f"{problem} {exc.context}"  # ran off the end: point at the opener
        line = mark.line + 1 if mark else None
        raise UserError(f"not valid YAML: {problem}", Source(file, line)) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise UserError(f"not valid YAML: {exc.reason} (character #x{char:04x})", Source(file, line)) from None
    except yaml.YAMLError as exc:
        raise UserError(f"not valid YAML: {str(exc).splitlines()[0]}", Source(file)) from None
    except RecursionError:
        raise UserError("the document nests too deeply", Source(file)) from None
    except ValueError as exc:
        raise UserError(f"not valid YAML: {exc.__class__.__name__}", Source(file)) from None
    if node is None:
        return YamlDocument(file, None, {})
    builder = _Builder(file)
    try:
        data = builder.build(node, ())
    except RecursionError:
        raise UserError("the document nests too deeply", Source(file)) from None
    return YamlDocument(file, data, builder.lines)


def read_text_file(path: str, max_bytes: int | None = None) -> str:
    """A UTF-8 input file's text; a missing, unreadable, oversized or binary file is a UserError."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise UserError("file not found", Source(path)) from None
    except IsADirectoryError:
        raise UserError("is a directory, not a file", Source(path)) from None
    except PermissionError:
        raise UserError("permission denied", Source(path)) from None
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror}", Source(path)) from None
    if max_bytes is not None and len(raw) > max_bytes:
        raise UserError(f"larger than {max_bytes >> 20} MiB", Source(path))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text (byte {exc.start})", Source(path)) from None


def read_yaml(path: str) -> YamlDocument:
    """Read and parse a YAML file; unreadable files are UserErrors too."""
    return load_yaml(read_text_file(path), path)
