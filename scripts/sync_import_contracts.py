"""Rewrite the protected_modules list of each `<domain>-internals` contract in importlinter.ini from the
modules that exist. Run after adding a module or package to a domain; tests/test_import_contracts.py fails
until the list matches."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dsta.domains import DOMAINS  # noqa: E402

PUBLIC_MODULES = {"api", "contracts", "events", "apps", "__init__"}


def internal_modules(domain: str) -> list[str]:
    package = ROOT / "dsta" / domain
    names = {
        path.stem if path.is_file() else path.name
        for path in package.iterdir()
        if path.suffix == ".py" or (path / "__init__.py").exists()
    }
    return sorted(f"dsta.{domain}.{name}" for name in names - PUBLIC_MODULES)


def main() -> None:
    config_path = ROOT / "importlinter.ini"
    text = config_path.read_text()
    for domain in DOMAINS:
        block = "\n".join(f"    {module}" for module in internal_modules(domain.name))
        section = rf"\[importlinter:contract:{domain.name}-internals\]"
        pattern = rf"({section}.*?protected_modules =\n)(.*?)(\nallowed_importers)"
        text = re.sub(pattern, lambda match, block=block: match.group(1) + block + match.group(3), text, flags=re.S)
    config_path.write_text(text)


if __name__ == "__main__":
    main()
