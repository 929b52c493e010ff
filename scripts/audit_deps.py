"""Audit the installed Python packages for known vulnerabilities (run by scripts/test).

pip-audit does the work. The registry this project can reach serves PyPI's per-project
JSON but not the per-release JSON pip-audit asks for, so pip-audit may skip packages
as "not found". For a skipped package whose installed release is the newest one, the
per-project JSON's ``vulnerabilities`` list (which is about the newest release) answers
the same question, and is used. Packages held back by a pin are listed, with a reason,
in security/dependency-exceptions.toml; so is any vulnerability that is accepted.

A package that is neither audited nor listed is printed (a new upstream release must not
turn a clean clone's CI red), so the list can be kept up to date.

Exit status: 0 no known vulnerability, 1 a vulnerability that is not accepted.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXCEPTIONS = ROOT / "security" / "dependency-exceptions.toml"
PROJECT_JSON = "https://pypi.org/pypi/{name}/json"
OWN = "ketascreen"


def pip_audit(ignored: list[str]) -> list[dict[str, object]]:
    """Run pip-audit over the installed set; return its per-package records."""
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--local",
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--skip-editable",
    ]
    for vuln in ignored:
        command += ["--ignore-vuln", vuln]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if not done.stdout.strip():
        sys.exit(f"pip-audit failed: {done.stderr.strip()}")
    deps: list[dict[str, object]] = json.loads(done.stdout)["dependencies"]
    return deps


def canonical(name: str) -> str:
    """A package name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def newest(name: str) -> tuple[str, list[str]]:
    """The newest release of a package and the advisories that affect it."""
    url = PROJECT_JSON.format(name=name)
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - fixed https URL
        data = json.load(response)
    ids = [str(v.get("id")) for v in data.get("vulnerabilities") or []]
    return str(data["info"]["version"]), ids


def main() -> int:
    """Audit, print a summary and each problem, and return the exit status."""
    exceptions = tomllib.loads(EXCEPTIONS.read_text(encoding="utf-8"))
    accepted = exceptions.get("accepted_vulnerabilities", {})
    unaudited_ok = exceptions.get("unaudited_packages", {})
    deps = [d for d in pip_audit(list(accepted)) if d["name"] != OWN]
    vulnerable = [
        f"{d['name']} {d['version']}: {v['id']}"
        for d in deps
        for v in d.get("vulns", [])  # type: ignore[attr-defined]
    ]
    skipped = [d for d in deps if "skip_reason" in d]
    with ThreadPoolExecutor(8) as pool:
        latest = dict(
            zip(
                [str(d["name"]) for d in skipped],
                pool.map(lambda d: newest(str(d["name"])), skipped),
                strict=True,
            )
        )
    installed = {
        canonical(d.metadata["Name"]): d.version for d in metadata.distributions()
    }
    unexplained: list[str] = []
    audited_here = 0
    for dep in skipped:
        name = str(dep["name"])
        version = installed[canonical(name)]
        release, ids = latest[name]
        if release == version:
            audited_here += 1
            vulnerable += [f"{name} {version}: {i}" for i in ids if i not in accepted]
        elif canonical(name) not in unaudited_ok:
            unexplained.append(
                f"{name} {version} not audited (newest is {release}); upgrade it or "
                f"explain it in {EXCEPTIONS.relative_to(ROOT)}"
            )
    print(  # noqa: T201
        f"dependency audit: {len(deps)} packages; pip-audit {len(deps) - len(skipped)}, "
        f"newest-release advisories {audited_here}, "
        f"held back and explained {len(skipped) - audited_here - len(unexplained)}, "
        f"not audited {len(unexplained)}; "
        f"vulnerable {len(vulnerable)}"
    )
    for line in vulnerable + unexplained:
        print(f"  {line}")  # noqa: T201
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
