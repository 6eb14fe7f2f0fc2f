"""Scan the repository's tracked files for committed secrets; exit 1 naming each finding.

    python scripts/scan_secrets.py [--root DIR]

Run by the reliability suite in CI (tests/reliability/test_secrets.py). What counts as a secret here:

* private keys (``-----BEGIN … PRIVATE KEY-----``), AWS access key ids (``AKIA…``), Slack / GitHub tokens;
* a credential-named key (``password``, ``secret``, ``app_secret``, ``token``, ``api_key``, ``access_key`` …)
  assigned a literal of 12+ characters that looks random (letters and digits mixed) — in Python, JSON, YAML,
  ``.env`` or INI syntax;
* a URL carrying a password (``scheme://user:password@host``) that is not a placeholder.

Placeholders (``${VAR}``, ``<secret>``, ``changeme``, ``***``, ``xxx…``) are not secrets. Values published in the
official Tracksolid document (its demo ``appSecret`` / ``accessToken`` examples, used by the tests to check the
signature against the document) are listed in ``PUBLISHED`` and allowed only under ``tests/``. A line may opt
out with the comment ``scan-secrets: allow`` (reviewable in the diff).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[0-9A-Za-z-]{10,}"),
    "GitHub token": re.compile(r"\bgh[pousr]_[0-9A-Za-z]{30,}"),
}
_NAME = r"(?:[A-Za-z_]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)[A-Za-z_]*)"
ASSIGNMENT = re.compile(
    rf"""(?ix)
    ["']?(?P<name>{_NAME})["']?\s*(?:=|:|=>)\s*
    (?P<quote>["'])(?P<value>[^"'\s]{{12,}})(?P=quote)
    """
)
ENV_ASSIGNMENT = re.compile(rf"(?im)^\s*(?:export\s+)?(?P<name>{_NAME})\s*=\s*(?P<value>[A-Za-z0-9+/=_-]{{12,}})\s*$")
#: Files whose unquoted ``NAME=value`` lines are settings (not code).
ENV_FILES = re.compile(r"(^|/)(\.env[^/]*|[^/]*\.(env|ini|cfg|conf|properties|sh))$")
URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://(?P<user>[^:/\s@'\"]+):(?P<value>[^@/\s'\"]{6,})@")
PLACEHOLDER = re.compile(r"(?i)^(?:\$\{?\w+\}?|<[^>]+>|\*+|x{3,}.*|changeme.*|example.*|placeholder.*|dummy.*|"
                         r"your[_-].*|redacted|not[_-]?set|none|null|test.*|fake.*|secret|password)$")
#: Demo values printed in the official API document (tests/data/tracksolid_doc): public, allowed there only.
PUBLISHED = {"c0aa0226fddc4365a3c67fef45427f8a", "7da3330ec28e3996b6ef4a7e3390ba71", "21218cca77804d2ba1922c33e"}
SKIP_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".pdf", ".ico", ".gz", ".zip", ".parquet", ".woff", ".woff2")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    kind: str

    def __str__(self) -> str:  # never print the value itself
        return f"{self.path}:{self.line}: {self.kind}"


def looks_random(value: str) -> bool:
    """A token-like literal (only token characters, letters and digits mixed) rather than a word, a dotted
    name or an expression."""
    if PLACEHOLDER.match(value) or not re.fullmatch(r"[A-Za-z0-9+/=_~-]{12,}", value):
        return False
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def scan_text(path: str, text: str) -> list[Finding]:
    findings = []
    in_tests = path.startswith("tests/")
    env_file = bool(ENV_FILES.search(path))
    for number, line in enumerate(text.splitlines(), start=1):
        if "scan-secrets: allow" in line:
            continue
        for kind, pattern in PATTERNS.items():
            if pattern.search(line):
                findings.append(Finding(path, number, kind))
        env_matches = ENV_ASSIGNMENT.finditer(line) if env_file else ()
        for match in (*ASSIGNMENT.finditer(line), *env_matches):
            value = match.group("value")
            if in_tests and any(p in value for p in PUBLISHED):
                continue
            if looks_random(value):
                findings.append(Finding(path, number, f"literal assigned to {match.group('name')!r}"))
        for match in URL_PASSWORD.finditer(line):
            value = match.group("value")
            if not PLACEHOLDER.match(value) and looks_random(value):
                findings.append(Finding(path, number, "password in a URL"))
        if not in_tests:
            for value in PUBLISHED:
                if value in line:
                    findings.append(Finding(path, number, "document demo credential outside tests/"))
    return findings


def tracked_files(root: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], check=True, capture_output=True).stdout
    return [p for p in out.decode().split("\0") if p]


def scan(root: Path) -> list[Finding]:
    findings: list[Finding] = []
    for rel in tracked_files(root):
        if rel.endswith(SKIP_SUFFIXES) or rel == "scripts/scan_secrets.py":
            continue
        path = root / rel
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        findings += scan_text(rel, text)
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    args = parser.parse_args(argv)
    findings = scan(Path(args.root))
    for finding in findings:
        print(finding)
    print(f"{len(findings)} possible secret(s) in tracked files", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
