"""`TemplateInfo`, a template as users browse it (`quant.templates.get_template`), in its own module: a
run's first call loads its template without creating this class."""

from __future__ import annotations

from typing import NamedTuple


class TemplateInfo(NamedTuple):
    """A template as users browse it (a named tuple: a frozen dataclass compiles five generated methods
    when its module is imported)."""

    name: str
    title: str
    doc: str
    source: str
    params: list[dict]

    def to_json(self) -> dict:
        """JSON-serialisable form."""
        return {"name": self.name, "title": self.title, "doc": self.doc, "source": self.source, "params": self.params}
