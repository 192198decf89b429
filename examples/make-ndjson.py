#!/usr/bin/env python3
"""Regenerate examples/findings.ndjson from examples/findings/*.json.

One compact JSON object per line, in file-name order. Standard library only.
Usage: python3 examples/make-ndjson.py [--check]
  --check  exit 1 if findings.ndjson is out of date instead of rewriting it.
"""
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
SRC = HERE / "findings"
OUT = HERE / "findings.ndjson"


def render() -> str:
    lines = []
    for path in sorted(SRC.glob("*.json")):
        with path.open(encoding="utf-8") as f:
            doc = json.load(f)
        lines.append(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))
    return "".join(line + "\n" for line in lines)


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT.name} is out of date; run: python3 examples/make-ndjson.py", file=sys.stderr)
            return 1
        print(f"{OUT.name} is up to date ({text.count(chr(10))} findings)")
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.name}: {text.count(chr(10))} findings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
