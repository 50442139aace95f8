"""The settings page (docs/settings.md) is what the executables' --help says now,
and every setting in it names its environment variable and default."""

import os
import re
import sys

import rtptest
from rtptest import check

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import importlib.util  # noqa: E402

spec = importlib.util.spec_from_file_location("gen", os.path.join(ROOT, "scripts", "gen-settings-doc.py"))
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)


def test_settings_page_is_generated_from_help():
    with open(os.path.join(ROOT, "docs", "settings.md"), encoding="utf-8") as f:
        committed = f.read()
    fresh = gen.render(os.environ["RTP_BIN_DIR"])
    check(committed == fresh, "docs/settings.md is stale: run scripts/gen-settings-doc.py and commit it")
    options = re.findall(r"^  --(\S+)[^\n]*\n        ([^\n]*)$", fresh, re.M)
    bad = [name for name, line in options
           if name not in ("help", "version") and not re.search(r"\(env [A-Z0-9_]+; default: .*\)$", line)]
    check(not bad, f"settings without env var or default: {bad}")
    print(f"{len(gen.EXECUTABLES)} executables, {len(options)} settings documented")


if __name__ == "__main__":
    rtptest.main(globals())
