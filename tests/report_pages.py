"""Reading a conformance report the way the tests need: elements with their attributes, nested
text, and the elements inside a given one (stdlib HTMLParser; the report has no scripts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"meta", "br", "hr", "img", "input", "link"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def all_text(self) -> str:
        return "".join(self.text) + "".join(c.all_text() for c in self.children)

    def matches(self, tag: str | None, attrs: dict[str, str]) -> bool:
        def has(key: str, value: str) -> bool:
            if key == "class_":  # one class among several
                return value in self.attrs.get("class", "").split()
            return self.attrs.get(key.replace("_", "-")) == value
        return (tag is None or self.tag == tag) and all(has(k, v) for k, v in attrs.items())

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        """Descendants matching `tag` and attributes (`class_` for a class, `data_x` for data-x)."""
        found = []
        for child in self.children:
            if child.matches(tag, attrs):
                found.append(child)
            found += child.find_all(tag, **attrs)
        return found

    def by_id(self, element_id: str) -> Element:
        [match] = self.find_all(id=element_id)
        return match


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].text.append(data)


def parse(html: str) -> Element:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root
