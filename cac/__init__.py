"""cac: open-source computer-aided coding (ICD-10-CM, ICD-10-PCS, HCPCS, CPT)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from cac.suggest.coder import Coder


def __getattr__(name: str) -> Any:
    if name == "Coder":
        from cac.suggest.coder import Coder

        return Coder
    raise AttributeError(name)


__all__ = ["Coder", "__version__"]
