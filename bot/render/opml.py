"""feeds.opml: every feed paperboy writes, as OPML 2.0, for one-click import into a feed reader
(written with the standard library's ElementTree, which escapes every title and URL)."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from email.utils import format_datetime


def opml(base_url: str, title: str, feeds: Sequence[tuple[str, str]], topics: Sequence[tuple[str, str]],
         updated: dt.datetime) -> bytes:
    """``feeds``: (title, path) of the site-wide feeds; ``topics``: (label, path) of each topic's,
    in a folder of their own."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateModified").text = format_datetime(updated.astimezone(dt.UTC), usegmt=True)
    ET.SubElement(head, "docs").text = "https://opml.org/spec2.opml"
    body = ET.SubElement(root, "body")

    def outline(parent: ET.Element, text: str, path: str) -> None:
        ET.SubElement(parent, "outline", type="rss", text=text, title=text, xmlUrl=base_url + path,
                      htmlUrl=base_url)

    for text, path in feeds:
        outline(body, text, path)
    if topics:
        folder = ET.SubElement(body, "outline", text="Topics", title="Topics")
        for text, path in topics:
            outline(folder, text, path)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n" + document + b"\n"
