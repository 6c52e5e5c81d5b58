"""Which coder a command uses: ``--model PACK``, else the default pack if installed, else knowledge-only.

Called only from CLI command functions (the one place cac core may reach into :mod:`models`)."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def choose_coder(model: str | None = None, *, knowledge_only: bool = False,
                 allow_release_mismatch: bool = False, guideline_edits: bool = True) -> Any:
    """The coder for a command.

    ``guideline_edits=False`` lets a pack's learned conventions stand over the ICD-10-CM
    guideline rules (for measuring agreement with a corpus coded under other conventions).

    An explicit ``model`` that cannot be loaded is an error (E301-E308).  The implicit
    default pack is skipped, with a warning on stderr, when it does not fit the loaded
    code sets, so the main job still runs knowledge-only."""
    from cac.errors import ModelPackError
    from cac.service import get_coder

    knowledge = get_coder()
    if knowledge_only:
        return knowledge
    from models.hybrid import HybridCoder
    from models.pack import default_pack_path

    if model:
        return HybridCoder.from_pack(model, knowledge, allow_release_mismatch=allow_release_mismatch,
                                     guideline_edits=guideline_edits)
    path = default_pack_path()
    if path is None:
        return knowledge
    try:
        return HybridCoder.from_pack(path, knowledge, allow_release_mismatch=allow_release_mismatch,
                                     guideline_edits=guideline_edits)
    except ModelPackError as exc:
        import typer

        typer.echo(f"warning {exc.code}: default model pack not used ({exc.message}); coding knowledge-only", err=True)
        return knowledge
