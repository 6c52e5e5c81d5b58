"""Self-describing, tamper-evident model packs (in the manner of MedCAT v2 model packs).

A pack is a directory.  Components write their weights into it (only
``.safetensors``, ``.json``, ``.skops``, ``.txt`` and ``.md`` files: nothing
that executes code when loaded), then :func:`finalize_pack` hashes them and
writes ``manifest.json`` (schema ``cac.modelpack/1``) and a generated
``MODEL_CARD.md``.  :func:`load_pack` verifies all of it before anything is used.

The hashing rule (``pack_id``), SHA-256 over, in this order:

1. the line ``cac.modelpack/1\\n``;
2. for every file of the pack except the top-level ``manifest.json`` and
   ``MODEL_CARD.md``, in sorted order of its relative POSIX path (Python string
   order): ``path + "\\0" + sha256_hex(file bytes) + "\\n"``;
3. ``"\\0meta\\0"`` and the canonical JSON (sorted keys, ``","``/``":"``
   separators, UTF-8, no NaN) of the manifest without ``pack_id`` and
   ``files``.

So editing any weight file, adding/removing a file, or editing the manifest's
metadata (metrics, code sets, training data, license, parent, ...) changes the
id, and :func:`load_pack` reports it (E302).  ``MODEL_CARD.md`` is informational:
it is generated from the manifest and is not covered by the id.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

from cac.errors import Errors, ModelPackError

SCHEMA = "cac.modelpack/1"
MANIFEST = "manifest.json"
MODEL_CARD = "MODEL_CARD.md"
ALLOWED_SUFFIXES = (".safetensors", ".json", ".skops", ".txt", ".md")
PACKAGE_PACKS = Path(__file__).resolve().parent / "packs"
ENV_MODELS_DIR = "CAC_MODELS_DIR"
INTENDED_USE = ("Decision support for professional medical coders: suggested codes, with evidence, "
                "are reviewed and confirmed by a person. Not for autonomous coding, billing without "
                "review, or clinical decisions.")
_ENV_PACKAGES = ("numpy", "scipy", "scikit-learn", "torch", "spacy", "safetensors", "skops")
_HEADLINE = ("map", "micro_f1")
_CHUNK = 1 << 20


# --- the pack object -------------------------------------------------------------------------


@dataclass
class ModelPack:
    """A verified pack: its directory and its manifest."""

    path: Path
    manifest: dict

    @property
    def pack_id(self) -> str:
        return self.manifest["pack_id"]

    @property
    def parent_pack_id(self) -> str | None:
        return self.manifest.get("parent_pack_id")

    @property
    def name(self) -> str:
        return self.manifest.get("name", "")

    @property
    def created(self) -> str:
        return self.manifest.get("created", "")

    @property
    def code_sets(self) -> dict[str, str]:
        return dict(self.manifest.get("code_sets") or {})

    @property
    def metrics(self) -> dict:
        return self.manifest.get("metrics") or {}

    @property
    def components(self) -> dict:
        return self.manifest.get("components") or {}

    @property
    def card_path(self) -> Path:
        return self.path / MODEL_CARD

    def file(self, rel: str | Path) -> Path:
        """Path of a file the manifest lists (E308 for any other)."""
        key = Path(rel).as_posix()
        if key not in self.manifest.get("files", {}):
            raise ModelPackError(Errors.E308, path=self.path, file=key)
        return self.path / key


# --- hashing -----------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _metadata(manifest: Mapping) -> dict:
    return {k: v for k, v in manifest.items() if k not in ("pack_id", "files")}


def _compute_id(files: Mapping[str, Mapping], meta: Mapping) -> str:
    """The pack id from the file digests and the manifest metadata (see the module docstring)."""
    h = hashlib.sha256(f"{SCHEMA}\n".encode())
    for rel in sorted(files):
        h.update(rel.encode("utf-8") + b"\0" + str(files[rel]["sha256"]).encode("ascii") + b"\n")
    h.update(b"\0meta\0")
    h.update(_canonical(dict(meta)))
    return h.hexdigest()


def _walk(root: Path) -> dict[str, Path]:
    """Every content file under ``root`` by relative POSIX path; refuses links and disallowed types."""
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in sorted(dirnames):
            if (base / name).is_symlink():
                raise ModelPackError(Errors.E306, path=root, file=(base / name).relative_to(root).as_posix())
        for name in filenames:
            p = base / name
            rel = p.relative_to(root).as_posix()
            if rel in (MANIFEST, MODEL_CARD):
                continue
            if p.is_symlink() or not p.is_file():
                raise ModelPackError(Errors.E306, path=root, file=rel)
            if p.suffix.lower() not in ALLOWED_SUFFIXES:
                raise ModelPackError(Errors.E305, path=root, file=rel, allowed=", ".join(ALLOWED_SUFFIXES))
            found[rel] = p
    return dict(sorted(found.items()))


def _hash_files(root: Path) -> dict[str, dict]:
    return {rel: {"sha256": _sha256_file(p), "size": p.stat().st_size} for rel, p in _walk(root).items()}


def pack_id_of(path: str | Path) -> str:
    """The id the pack at ``path`` should carry: its files on disk plus its manifest's metadata."""
    root = _pack_dir(path)
    return _compute_id(_hash_files(root), _metadata(_read_manifest(root)))


def training_fingerprint(documents: Iterable[Any]) -> str:
    """Order-independent SHA-256 over the documents' ids, texts and gold ``(system, code)`` sets."""
    digests = sorted(_document_digest(d) for d in documents)
    h = hashlib.sha256(b"cac.training/1\n")
    for d in digests:
        h.update(d.encode("ascii") + b"\n")
    return h.hexdigest()


def _field(obj: Any, name: str, default: Any = None) -> Any:
    return obj.get(name, default) if isinstance(obj, Mapping) else getattr(obj, name, default)


def _document_digest(doc: Any) -> str:
    gold = sorted({(str(_field(g, "system", "")), str(_field(g, "code", ""))) for g in _field(doc, "gold", None) or ()})
    record = {"id": str(_field(doc, "id", "")), "text": str(_field(doc, "text", "")), "gold": [list(g) for g in gold]}
    return hashlib.sha256(_canonical(record)).hexdigest()


# --- writing -----------------------------------------------------------------------------------


def finalize_pack(path: str | Path, *, name: str, code_sets: dict[str, str], training_data: dict, metrics: dict,
                  components: dict, parent_pack_id: str | None = None, license: str = "", attribution: str = "",
                  limits: Iterable[str] = (), created: str | None = None) -> ModelPack:
    """Components have already written their files into ``path``; check extensions, hash,
    write ``manifest.json`` and ``MODEL_CARD.md``.  Non-finite floats in the metadata become null."""
    root = Path(path)
    if not root.is_dir():
        raise ModelPackError(Errors.E301, path=root)
    files = _hash_files(root)
    meta = _jsonable({
        "schema": SCHEMA,
        "parent_pack_id": parent_pack_id,
        "name": name,
        "created": created or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "code_sets": dict(code_sets),
        "training_data": dict(training_data),
        "metrics": dict(metrics),
        "components": dict(components),
        "environment": _environment(),
        "license": license,
        "attribution": attribution,
        "intended_use": INTENDED_USE,
        "limits": list(limits),
        "cac_version": _cac_version(),
    })
    _check_metadata(root, meta, files)
    manifest = {"schema": SCHEMA, "pack_id": _compute_id(files, meta), **meta, "files": files}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
                                 encoding="utf-8")
    (root / MODEL_CARD).write_text(render_model_card(manifest), encoding="utf-8")
    return ModelPack(root, manifest)


def _jsonable(obj: Any) -> Any:
    """Plain JSON values (numpy scalars, tuples, sets and paths converted; NaN/inf -> None)."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = [_jsonable(v) for v in obj]
        return sorted(items, key=repr) if isinstance(obj, (set, frozenset)) else items
    if callable(getattr(obj, "tolist", None)):  # numpy scalars and arrays
        return _jsonable(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def _check_metadata(root: Path, meta: dict, files: Mapping[str, Any]) -> None:
    if not isinstance(meta["name"], str) or not meta["name"].strip():
        raise ModelPackError(Errors.E304, path=root, detail="the pack needs a non-empty name")
    if not all(isinstance(v, str) for v in meta["code_sets"].values()):
        raise ModelPackError(Errors.E304, path=root, detail="code_sets must map each system to a release string")
    for comp, spec in meta["components"].items():
        listed = spec.get("files", []) if isinstance(spec, dict) else []
        for rel in listed if isinstance(listed, list) else []:
            if rel not in files:
                raise ModelPackError(Errors.E304, path=root,
                                     detail=f"component {comp!r} names {rel!r}, which is not in the pack")


def _cac_version() -> str:
    import cac

    return cac.__version__


def _environment() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    env: dict[str, str | None] = {"python": platform.python_version(), "platform": platform.platform(),
                                  "cac": _cac_version()}
    for dist in _ENV_PACKAGES:
        try:
            env[dist] = version(dist)
        except PackageNotFoundError:
            env[dist] = None
    return env


# --- loading and verifying ------------------------------------------------------------------------


def _pack_dir(path: str | Path) -> Path:
    root = Path(path)
    if root.name == MANIFEST and root.is_file():
        root = root.parent
    if not root.exists():
        raise ModelPackError(Errors.E301, path=root)
    if not root.is_dir():
        raise ModelPackError(Errors.E304, path=root, detail="not a directory")
    return root


def _read_manifest(root: Path) -> dict:
    """The parsed, structurally checked manifest (E304 when absent or malformed)."""
    mf = root / MANIFEST
    if not mf.is_file():
        raise ModelPackError(Errors.E304, path=root, detail=f"no {MANIFEST}")
    try:
        manifest = json.loads(mf.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelPackError(Errors.E304, path=root, detail=f"{MANIFEST} is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(manifest, dict):
        raise ModelPackError(Errors.E304, path=root, detail=f"{MANIFEST} is not a JSON object")
    if manifest.get("schema") != SCHEMA:
        raise ModelPackError(Errors.E304, path=root, detail=f"unknown schema {manifest.get('schema')!r} (expected {SCHEMA})")
    if not isinstance(manifest.get("pack_id"), str) or not isinstance(manifest.get("files"), dict):
        raise ModelPackError(Errors.E304, path=root, detail="pack_id or files is missing")
    for rel, entry in manifest["files"].items():
        if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and isinstance(entry.get("size"), int)):
            raise ModelPackError(Errors.E304, path=root, detail=f"files entry {rel!r} needs sha256 and size")
    if not isinstance(manifest.get("code_sets", {}), dict):
        raise ModelPackError(Errors.E304, path=root, detail="code_sets is not an object")
    return manifest


def _verify_files(root: Path, listed: Mapping[str, Mapping]) -> None:
    on_disk = _walk(root)
    unlisted, missing = sorted(set(on_disk) - set(listed)), sorted(set(listed) - set(on_disk))
    if unlisted:
        raise ModelPackError(Errors.E302, path=root, detail=f"unlisted file {unlisted[0]!r}")
    if missing:
        raise ModelPackError(Errors.E302, path=root, detail=f"missing file {missing[0]!r}")
    for rel, p in on_disk.items():
        if p.stat().st_size != listed[rel]["size"] or _sha256_file(p) != listed[rel]["sha256"]:
            raise ModelPackError(Errors.E302, path=root, detail=f"file {rel!r} does not match its recorded sha256")


def load_pack(path: str | Path, *, code_sets: Mapping[str, Any] | None = None,
              allow_release_mismatch: bool = False) -> ModelPack:
    """Verify and open the pack at ``path`` (E301 missing, E304 malformed, E305/E306 refused
    files, E302 tampered, E303 code-set releases differ from ``code_sets`` unless allowed).

    ``code_sets`` maps a system to its loaded release (or a collection of loaded releases)."""
    root = _pack_dir(path)
    manifest = _read_manifest(root)
    _verify_files(root, manifest["files"])
    if _compute_id(manifest["files"], _metadata(manifest)) != manifest["pack_id"]:
        raise ModelPackError(Errors.E302, path=root,
                             detail=f"pack_id does not match the pack's contents (was {MANIFEST} edited?)")
    if code_sets is not None and not allow_release_mismatch:
        check_code_sets(root, manifest.get("code_sets") or {}, code_sets)
    return ModelPack(root, manifest)


def check_code_sets(root: Path, built: Mapping[str, str], loaded: Mapping[str, Any]) -> None:
    """E303 when any system the pack was built for is not loaded at the same release."""
    bad = {}
    for system, release in built.items():
        have = loaded.get(system)
        releases = {have} if isinstance(have, str) else set(have or ())
        if release not in releases:
            bad[system] = (release, ", ".join(sorted(map(str, releases))) or "not loaded")
    if bad:
        raise ModelPackError(Errors.E303, path=root,
                             built="; ".join(f"{s} {b}" for s, (b, _) in bad.items()),
                             loaded="; ".join(f"{s} {h}" for s, (_, h) in bad.items()))


# --- finding packs ----------------------------------------------------------------------------


def _settings(settings: Any = None) -> Any:
    if settings is not None:
        return settings
    from cac.config import get_settings

    return get_settings()


def search_dirs(settings: Any = None) -> list[Path]:
    """Where packs are looked for: ``models/packs/``, ``cache_dir/models``, then ``$CAC_MODELS_DIR``."""
    dirs = [PACKAGE_PACKS, Path(_settings(settings).cache_dir) / "models"]
    if os.environ.get(ENV_MODELS_DIR):
        dirs.append(Path(os.environ[ENV_MODELS_DIR]))
    out: list[Path] = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


def _candidates(settings: Any = None) -> list[Path]:
    """Every sub-directory of a search dir that holds a manifest."""
    return [d for base in search_dirs(settings) if base.is_dir()
            for d in sorted(base.iterdir()) if d.is_dir() and (d / MANIFEST).is_file()]


def _peek(root: Path) -> dict:
    """The manifest as far as it parses, without verification ({} when unreadable)."""
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _dir_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def flatten(d: Mapping, prefix: str = "") -> dict[str, Any]:
    """Nested dicts flattened to dotted keys."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def headline_metrics(metrics: Mapping) -> dict[str, float]:
    """The numeric ``map`` / ``micro_f1`` entries (any nesting, e.g. ``diagnosis.map``)."""
    flat = flatten(metrics) if isinstance(metrics, Mapping) else {}
    return {k: v for k, v in flat.items() if k.rsplit(".", 1)[-1] in _HEADLINE and _is_number(v)}


def pack_summary(root: Path, manifest: Mapping, status: str = "ok") -> dict:
    """One row of :func:`list_packs`."""
    pid = manifest.get("pack_id") if isinstance(manifest.get("pack_id"), str) else ""
    return {"name": manifest.get("name") or root.name, "pack_id": pid[:12], "pack_id_full": pid,
            "path": str(root), "created": manifest.get("created"), "code_sets": manifest.get("code_sets") or {},
            "metrics": headline_metrics(manifest.get("metrics") or {}), "size": _dir_size(root), "status": status}


def list_packs(settings: Any = None) -> list[dict]:
    """A summary of every pack in :func:`search_dirs`; a pack that fails verification has status ``invalid: ...``."""
    rows = []
    for root in _candidates(settings):
        try:
            rows.append(pack_summary(root, load_pack(root).manifest))
        except ModelPackError as exc:
            rows.append(pack_summary(root, _peek(root), status=f"invalid: {exc.code} {exc.message}"))
    return rows


def resolve_pack(ref: str | Path, settings: Any = None) -> Path:
    """A pack directory from a path, or a directory name / pack name / pack-id prefix (4+ chars)
    found in :func:`search_dirs` (E301 none, E307 several different packs)."""
    as_path = Path(ref)
    if as_path.exists():
        return _pack_dir(as_path)
    ref = str(ref)
    peeked = [(root, _peek(root)) for root in _candidates(settings)]
    by_name = [(r, m) for r, m in peeked if ref in (r.name, m.get("name"))]
    by_id = [(r, m) for r, m in peeked if len(ref) >= 4 and str(m.get("pack_id", "")).startswith(ref.lower())]
    for matches in (by_name, by_id):
        distinct = {m.get("pack_id") or str(r) for r, m in matches}
        if len(distinct) > 1:
            raise ModelPackError(Errors.E307, ref=ref, matches=", ".join(str(r) for r, _ in matches))
        if matches:
            return matches[0][0]
    raise ModelPackError(Errors.E301, path=ref)


def default_pack_path(settings: Any = None) -> Path | None:
    """``settings.model_pack`` (E301 when it does not exist), else the bundled ``models/packs/default``, else None."""
    configured = getattr(_settings(settings), "model_pack", None)
    if configured:
        if not Path(configured).exists():
            raise ModelPackError(Errors.E301, path=configured)
        return Path(configured)
    bundled = PACKAGE_PACKS / "default"
    return bundled if (bundled / MANIFEST).is_file() else None


# --- comparing --------------------------------------------------------------------------------


def _changed(a: Mapping, b: Mapping) -> dict[str, dict]:
    return {k: {"a": a.get(k), "b": b.get(k)} for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _diff_metrics(a: Mapping, b: Mapping) -> dict[str, dict]:
    fa, fb = flatten(a), flatten(b)
    out = {}
    for k in sorted(set(fa) | set(fb)):
        va, vb = fa.get(k), fb.get(k)
        if not (_is_number(va) or _is_number(vb)):
            continue
        delta = vb - va if _is_number(va) and _is_number(vb) else None
        out[k] = {"a": va, "b": vb, "delta": delta}
    return out


def _diff_components(a: Mapping, b: Mapping) -> dict:
    shared = sorted(set(a) & set(b))
    changed = {}
    for name in shared:
        fa = flatten(a[name]) if isinstance(a[name], Mapping) else {"": a[name]}
        fb = flatten(b[name]) if isinstance(b[name], Mapping) else {"": b[name]}
        if diff := _changed(fa, fb):
            changed[name] = diff
    return {"added": sorted(set(b) - set(a)), "removed": sorted(set(a) - set(b)), "changed": changed}


def _diff_files(a: Mapping, b: Mapping) -> dict:
    return {"added": sorted(set(b) - set(a)), "removed": sorted(set(a) - set(b)),
            "changed": sorted(k for k in set(a) & set(b) if a[k].get("sha256") != b[k].get("sha256"))}


def diff_packs(a: ModelPack, b: ModelPack) -> dict:
    """What changed from pack ``a`` to pack ``b`` (metric deltas are ``b - a``)."""
    ma, mb = a.manifest, b.manifest
    return {
        "pack_id": (a.pack_id, b.pack_id),
        "name": (a.name, b.name),
        "parent": (a.parent_pack_id, b.parent_pack_id),
        "b_is_child_of_a": b.parent_pack_id == a.pack_id,
        "code_sets": _changed(a.code_sets, b.code_sets),
        "metrics": _diff_metrics(a.metrics, b.metrics),
        "components": _diff_components(a.components, b.components),
        "files": _diff_files(ma.get("files", {}), mb.get("files", {})),
        "training_data": _changed(flatten(ma.get("training_data") or {}), flatten(mb.get("training_data") or {})),
    }


# --- the model card ---------------------------------------------------------------------------


def _cell(v: Any) -> str:
    if isinstance(v, float):
        text = f"{v:.4f}"
    elif isinstance(v, (list, tuple)):
        text = ", ".join(map(str, v))
    else:
        text = "" if v is None else str(v)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: tuple[str, ...], rows: Iterable[Iterable[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines if len(lines) > 2 else ["None recorded."]


def render_model_card(manifest: Mapping) -> str:
    """``MODEL_CARD.md`` text, generated from the manifest alone."""
    td = manifest.get("training_data") or {}
    comps = manifest.get("components") or {}
    env = manifest.get("environment") or {}
    lines = [f"# Model card: {manifest.get('name', '')}", "",
             f"- Pack id: `{manifest.get('pack_id')}`",
             f"- Parent pack id: `{manifest.get('parent_pack_id')}`" if manifest.get("parent_pack_id")
             else "- Parent pack id: none (trained from scratch)",
             f"- Created: {manifest.get('created')}", f"- cac version: {manifest.get('cac_version')}",
             f"- Schema: {manifest.get('schema')}", "",
             "## Training data", ""]
    lines += _table(("field", "value"), sorted(flatten(td).items()))
    lines += ["", "## Metrics (development set)", ""]
    lines += _table(("metric", "value"), sorted(flatten(manifest.get("metrics") or {}).items()))
    lines += ["", "## Code-set releases", ""]
    lines += _table(("system", "release"), sorted((manifest.get("code_sets") or {}).items()))
    lines += ["", "## Components", ""]
    lines += _table(("component", "family", "files"),
                    ((n, c.get("family", ""), c.get("files", [])) for n, c in comps.items() if isinstance(c, Mapping)))
    lines += ["", "## Intended use", "", str(manifest.get("intended_use") or INTENDED_USE), "",
              "## Known limits", ""]
    lines += [f"- {lim}" for lim in manifest.get("limits") or []] or ["None recorded."]
    lines += ["", "## License and attribution", "", f"License: {manifest.get('license') or 'not stated'}", "",
              f"Attribution: {manifest.get('attribution') or 'none'}", "",
              "## Environment", ""]
    lines += _table(("package", "version"), sorted(env.items()))
    lines += ["", "## Integrity", "",
              "The pack id is a SHA-256 over every file of the pack (except `manifest.json` and this card) and the "
              "manifest's metadata; `cac models show PATH` verifies it. This card is generated from the manifest "
              "and is not itself covered by the id.", ""]
    return "\n".join(lines)
