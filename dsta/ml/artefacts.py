"""Where model artefacts live: files under `STATE_DIR/models/<model name>/`, never anywhere else.

A model name is a safe slug (`MODEL_NAME_PATTERN`, checked where a job is created), and every path is still
resolved and checked to stay inside the models folder before it is written, read or deleted (defence in depth:
a row written by an older version or by hand cannot point the server at another file). Callers outside the
server see only the name relative to the folder, never an absolute server path.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def models_dir() -> Path:
    return (Path(settings.STATE_DIR) / "models").resolve()


def inside(path: str | Path) -> Path:
    """`path` (absolute, or relative to the models folder) resolved; ValueError when it leaves the folder."""
    root = models_dir()
    resolved = (root / path).resolve()  # an absolute `path` replaces root
    if resolved == root or not resolved.is_relative_to(root):
        raise ValueError(f"model artefact {path} is outside the models folder")
    return resolved


def artefact_path(*, model_name: str, version: int, job_id: object, suffix: str) -> Path:
    return inside(Path(model_name) / f"v{version}-{job_id}.{suffix}")


def public_name(stored: str) -> str:
    """The stored artefact's path relative to the models folder ("" when it is not inside it)."""
    try:
        return inside(stored).relative_to(models_dir()).as_posix()
    except ValueError:
        return ""
