"""One catalogue of coded errors, in the manner of spaCy's ``errors.py``.

Every error a user can meet has a stable code (``E0xx``) and a one-line message
template.  Raise them as ``raise CacError(Errors.E001, size=..., limit=...)``;
the CLI prints ``error E001: ...`` on one line and exits non-zero, the API maps
the error class to an HTTP status.  Messages never contain note text (PHI).
"""

from __future__ import annotations


class Errors:
    """Message templates, keyed by stable code."""

    # --- input (E0xx) -------------------------------------------------------
    E001 = "input is empty or whitespace-only"
    E002 = "input looks binary (contains NUL or control bytes), not a clinical note"
    E003 = "input is not valid UTF-8 (byte offset {offset})"
    E004 = "input is {size} bytes, over the size limit of {limit} bytes (set CAC_MAX_INPUT_BYTES to change it)"
    E005 = "malformed JSON input: {detail}"
    E006 = "malformed FHIR input: {detail}"
    E007 = "FHIR resource type {rtype!r} is not supported (expected DocumentReference or Bundle)"
    E008 = "FHIR resource has no text content (attachment data or text.div)"
    E009 = "input file not found: {path}"
    E010 = "unknown setting {value!r} (expected one of: {allowed})"
    E011 = "date of service {value!r} is not a valid YYYY-MM-DD date"
    E012 = "date of service {date} is outside every loaded {system} release ({releases})"
    E013 = "unknown output format {value!r} (expected one of: {allowed})"
    E014 = "--top-k must be a non-negative integer, got {value!r}"
    # --- code sets (E1xx) ---------------------------------------------------
    E101 = "unknown code {code!r} in {system}"
    E102 = "code set file not found: {path}"
    E103 = "code set file {path} is malformed: {detail}"
    E104 = "unknown code system {system!r} (expected one of: {allowed})"
    E105 = "data directory {path} does not exist (set CAC_DATA_DIR)"
    E106 = "CPT file {path} is malformed: {detail}"
    E107 = "code set cache {path} is unreadable; delete it to rebuild ({detail})"
    # --- pipeline / rules (E2xx) --------------------------------------------
    E201 = "rule file {path} is malformed: {detail}"
    E202 = "pipeline component {name!r} is missing; build the pipeline with cac.pipeline.build_pipeline()"
    E203 = "rule file not found: {path}"
    E204 = "unknown pipeline component {name!r} (expected one of: {allowed})"
    # --- models (E3xx) -----------------------------------------------------
    E301 = "model pack not found: {path}"
    E302 = "model pack {path} failed its integrity check: {detail}"
    E303 = "model pack {path} was built for code sets {built}, but loaded code sets are {loaded}"
    E304 = "model pack {path} is malformed: {detail}"
    E305 = "model pack {path} holds {file!r}: only {allowed} files are allowed (pickles and other code-executing formats are refused)"
    E306 = "model pack {path} holds {file!r}, which is not a regular file (symbolic links and special files are refused)"
    E307 = "model pack reference {ref!r} is ambiguous: it matches {matches}"
    E308 = "model pack {path} does not list a file {file!r}"
    # --- corpora / evaluation (E4xx) ----------------------------------------
    E401 = "corpus {name!r} is unknown (expected one of: {allowed})"
    E402 = "corpus file {path} is malformed at line {line}: {detail}"
    E403 = "corpus split {split!r} not found under {root}"
    E404 = "predictions/gold file {path} is malformed: {detail}"
    # --- benchmark (E5xx) ----------------------------------------------------
    E501 = "no notes to benchmark: set CAC_DATA_DIR (CodiEsp background texts) or run from a checkout with examples/"


class CacError(Exception):
    """A user-facing error with a stable code.  ``str(err)`` is one line."""

    def __init__(self, template: str, **kwargs: object) -> None:
        self.code = _code_of(template)
        self.template = template
        self.kwargs = kwargs
        message = template.format(**kwargs) if kwargs else template
        self.message = " ".join(message.split())
        super().__init__(f"{self.code}: {self.message}")


class InputError(CacError):
    """The caller's input is unusable (maps to HTTP 400/413/422)."""


class CodeSetError(CacError):
    """A code set is missing, malformed or does not cover the request."""


class ModelPackError(CacError):
    """A model pack is missing, tampered with or incompatible."""


class CorpusError(CacError):
    """A corpus or prediction file cannot be read."""


_BY_TEMPLATE = {v: k for k, v in vars(Errors).items() if k.startswith("E")}


def _code_of(template: str) -> str:
    return _BY_TEMPLATE.get(template, "E000")
