"""Reading an official code-set XML file, with coded errors for missing or malformed files."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from cac.errors import CodeSetError, Errors


def parse_xml(path: Path, root_tag: str) -> ET.Element:
    """The root element of ``path``; E102 when missing, E103 when malformed or of another kind."""
    path = Path(path)
    if not path.is_file():
        raise CodeSetError(Errors.E102, path=str(path))
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise CodeSetError(Errors.E103, path=str(path), detail=str(exc)) from None
    if root.tag != root_tag:
        raise CodeSetError(Errors.E103, path=str(path), detail=f"root element is <{root.tag}>, expected <{root_tag}>")
    return root
