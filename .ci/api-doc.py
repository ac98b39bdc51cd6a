#!/usr/bin/env python3
"""Writes include/API.md, the API reference, from the doc comments of include/mxkv.h.

With --check, fails (exit 1) when the committed page differs from what the header gives.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = ROOT / "include" / "mxkv.h"
PAGE = ROOT / "include" / "API.md"

GROUPS = [
    ("Errors and versions", lambda n: not n.startswith(("MXKVStore", "MXNDArray"))),
    ("KVStore", lambda n: n.startswith("MXKVStore")),
    ("NDArray", lambda n: n.startswith("MXNDArray")),
]


def entries(text):
    """(kind, name, declaration, doc) for every documented typedef and function."""
    pattern = re.compile(r"/\*\*\n(?P<doc>(?: \*.*\n)+?) \*/\n(?P<decl>(?:typedef|int|const char|#define)[^;]*?(?:;|\n))")
    for m in pattern.finditer(text):
        doc = "\n".join(line[3:] if line.startswith(" * ") else line[2:] for line in m.group("doc").splitlines())
        decl = " ".join(m.group("decl").split())
        name = re.search(r"(MX\w+|mx_\w+|dim_t|\w+Handle|MXKV_\w+)\s*(?:\(|;|$| )", decl)
        yield decl, (name.group(1) if name else decl), doc.strip()


def render():
    text = HEADER.read_text()
    items = list(entries(text))
    out = [
        "# mxkv C API reference",
        "",
        "Generated from the doc comments of [`mxkv.h`](mxkv.h) by `.ci/api-doc.py`; do not edit.",
        "Every function returns 0 on success and -1 on failure, with the message in",
        "`MXGetLastError()`. The differences from MXNet 1.9.1 are listed in the",
        "[README](../README.md#differences-from-mxnet-191).",
        "",
        "## Types and constants",
        "",
    ]
    for decl, name, doc in items:
        if not decl.startswith(("int ", "const char")):
            out += [f"### `{name}`", "", "```c", decl, "```", "", doc, ""]
    for title, keep in GROUPS:
        out += [f"## {title}", ""]
        for decl, name, doc in items:
            if decl.startswith(("int ", "const char")) and keep(name):
                out += [f"### `{name}`", "", "```c", decl, "```", "", doc, ""]
    return "\n".join(out).rstrip() + "\n"


def main():
    page = render()
    if "--check" in sys.argv:
        if PAGE.read_text() != page:
            print("include/API.md is out of date: run `make header`")
            print("0 passed, 1 failed")
            return 1
        print("include/API.md matches the header")
        print("1 passed, 0 failed")
        return 0
    PAGE.write_text(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
