#!/usr/bin/env python3
"""Regenerate the NDJSON files of examples/ from the pretty-printed fixtures.

One compact JSON object per line, in file-name order. Standard library only.
  findings.ndjson              <- findings/*.json        (GuardDuty, EventBridge envelopes)
  findings-asff.ndjson         <- findings/asff/*.json   (Security Hub ASFF)
  findings-ocsf.ndjson         <- findings/ocsf/*.json   (OCSF 2004 / 2001)
  findings-falco.ndjson        <- findings/falco/*.json  (Falco / falcosidekick)
  findings-all-formats.ndjson  <- all four, GuardDuty first
  findings-hostile.ndjson      <- findings/hostile/*.json (out of contract on purpose)
Usage: python3 examples/make-ndjson.py [--check]
  --check  exit 1 if any NDJSON file is out of date instead of rewriting it.
"""
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
SRC = HERE / "findings"
FORMATS = ("asff", "ocsf", "falco")


def render(paths) -> str:
    lines = []
    for path in paths:
        with path.open(encoding="utf-8") as f:
            doc = json.load(f)
        lines.append(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))
    return "".join(line + "\n" for line in lines)


def outputs() -> dict:
    groups = {"findings.ndjson": sorted(SRC.glob("*.json"))}
    for fmt in FORMATS:
        groups[f"findings-{fmt}.ndjson"] = sorted((SRC / fmt).glob("*.json"))
    groups["findings-all-formats.ndjson"] = [p for paths in list(groups.values()) for p in paths]
    groups["findings-hostile.ndjson"] = sorted((SRC / "hostile").glob("*.json"))
    return {name: render(paths) for name, paths in groups.items()}


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = 0
    for name, text in outputs().items():
        out = HERE / name
        if check:
            current = out.read_text(encoding="utf-8") if out.exists() else ""
            if current != text:
                print(f"{name} is out of date; run: python3 examples/make-ndjson.py", file=sys.stderr)
                stale += 1
            else:
                print(f"{name} is up to date ({text.count(chr(10))} records)")
            continue
        out.write_text(text, encoding="utf-8")
        print(f"wrote {name}: {text.count(chr(10))} records")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
