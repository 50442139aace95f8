#!/usr/bin/env python3
"""Writes docs/settings.md from the --help of every executable, so the settings
documentation cannot drift from the code: scripts/gen-settings-doc.py [BIN_DIR]
(default build/bin). tests/integration/test_docs.py checks the file is current."""

import os
import subprocess
import sys

EXECUTABLES = [
    ("rtp up", ["rtp", "up", "--help"]),
    ("rtp supervise", ["rtp", "supervise", "--help"]),
    ("rtp top", ["rtp", "top", "--help"]),
    ("rtp-reader", ["rtp-reader", "--help"]),
    ("rtp-broker", ["rtp-broker", "--help"]),
    ("rtp-censor", ["rtp-censor", "--help"]),
    ("rtp-sentiment", ["rtp-sentiment", "--help"]),
    ("rtp-engagement", ["rtp-engagement", "--help"]),
    ("rtp-hashtags", ["rtp-hashtags", "--help"]),
    ("rtp-aggregator", ["rtp-aggregator", "--help"]),
    ("rtp-batcher", ["rtp-batcher", "--help"]),
    ("rtp-replay", ["rtp-replay", "--help"]),
]


def render(bin_dir):
    out = ["# Settings of every executable",
           "",
           "Generated from each program's `--help` by `scripts/gen-settings-doc.py`; do not edit by hand.",
           "Every setting is a flag (`--name VALUE` or `--name=VALUE`), else its environment variable,",
           "else its default.",
           ""]
    for title, argv in EXECUTABLES:
        text = subprocess.run([os.path.join(bin_dir, argv[0]), *argv[1:]], capture_output=True, text=True,
                              check=True).stdout
        out += [f"## {title}", "", "```", text.rstrip("\n"), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bin_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build", "bin")
    with open(os.path.join(root, "docs", "settings.md"), "w", encoding="utf-8") as f:
        f.write(render(bin_dir))
