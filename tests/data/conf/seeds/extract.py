#!/usr/bin/env python3
"""Extract the frp config snippets from the seed articles.

    extract.py [SEEDS_DIR] [--check]

SEEDS_DIR defaults to <repo>/../shared/seeds. Each fenced code block that is
an frp config (INI or TOML; not shell, not a systemd unit, not a diagram)
becomes <article stem>_<n>.ini or .toml beside this script, numbered from 1 in
article order. Blocks squashed onto one line (a wiki export) get their line
breaks back before each [section] and each `key =`.

With --check nothing is written: the exit status says whether the files here
match what the articles give (1 and a list of differences otherwise).
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", "..", ".."))
DEFAULT_SEEDS = os.path.normpath(os.path.join(REPO, "..", "shared", "seeds"))

FENCE = re.compile(r"```([A-Za-z0-9_+-]*)(.*?)```", re.S)
NOT_CONFIG_LANGS = {"bash", "sh", "shell", "console", "text", "json", "yaml", "go"}
SYSTEMD = re.compile(r"^\s*\[(Unit|Service|Install|Timer|Socket)\]\s*$", re.M)
KEY_LINE = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_.-]*\s*=", re.M)
# Where a squashed block had its line breaks: before [section] and `key =`.
SPLIT = re.compile(r"\s+(?=\[[^\]\s]+\](?:\s|$)|[A-Za-z_][A-Za-z0-9_.]*\s*=)")


def snippets(text):
    for m in FENCE.finditer(text):
        lang, body = m.group(1).lower(), m.group(2)
        if lang in NOT_CONFIG_LANGS:
            continue
        if "\n" not in body.strip("\n"):
            body = SPLIT.sub("\n", body.strip())
        lines = [l.rstrip() for l in body.strip("\n").split("\n")]
        body = "\n".join(lines).strip("\n") + "\n"
        if SYSTEMD.search(body) or not KEY_LINE.search(body):
            continue
        if lang in ("ini", "toml"):
            ext = lang
        elif "[common]" in body or re.search(r"^\s*[a-z]+_[a-z_]+\s*=", body, re.M):
            ext = "ini"
        else:
            ext = "toml"
        yield ext, body


def extract(seeds):
    out = {}
    for name in sorted(os.listdir(seeds)):
        if not name.endswith(".txt"):
            continue
        with open(os.path.join(seeds, name), encoding="utf-8") as f:
            text = f.read()
        stem = name[:-4]
        for n, (ext, body) in enumerate(snippets(text), 1):
            out["%s_%d.%s" % (stem, n, ext)] = body
    return out


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    seeds = args[0] if args else DEFAULT_SEEDS
    if not os.path.isdir(seeds):
        print("extract.py: %s: no such directory" % seeds, file=sys.stderr)
        return 2
    want = extract(seeds)
    have = {f for f in os.listdir(HERE) if f.endswith((".ini", ".toml"))}
    bad = []
    for name, body in want.items():
        path = os.path.join(HERE, name)
        old = open(path, encoding="utf-8").read() if name in have else None
        if old != body:
            bad.append(name)
            if not check:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(body)
    for name in sorted(have - set(want)):
        bad.append(name)
        if not check:
            os.remove(os.path.join(HERE, name))
    if check and bad:
        print("extract.py: out of date: " + ", ".join(sorted(bad)), file=sys.stderr)
        return 1
    print("extract.py: %d snippets%s" % (len(want), " checked" if check else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
