"""The docs pages (docs/settings.md and docs/<executable>.md) are what the
generator makes from the executables' --help and sources now, every setting names
its environment variable and default, every executable's page has its sections, and
the README links every page."""

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


def _read(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as f:
        return f.read()


def test_settings_page_is_generated_from_help():
    committed = _read("docs", "settings.md")
    fresh = gen.render(os.environ["RTP_BIN_DIR"])
    check(committed == fresh, "docs/settings.md is stale: run scripts/gen-settings-doc.py and commit it")
    options = re.findall(r"^  --(\S+)[^\n]*\n        ([^\n]*)$", fresh, re.M)
    bad = [name for name, line in options
           if name not in ("help", "version") and not re.search(r"\(env [A-Z0-9_]+; default: .*\)$", line)]
    check(not bad, f"settings without env var or default: {bad}")
    print(f"{len(gen.EXECUTABLES)} executables, {len(options)} settings documented")


def test_a_current_page_per_executable():
    pages = gen.render_all(os.environ["RTP_BIN_DIR"])
    check(len(pages) == len(gen.EXECUTABLES) + 1, f"a page per executable and settings.md: {sorted(pages)}")
    stale = [name for name, text in pages.items()
             if not os.path.exists(os.path.join(ROOT, "docs", name)) or _read("docs", name) != text]
    check(not stale, f"stale or missing pages {stale}: run scripts/gen-settings-doc.py and commit them")
    readme = _read("README.md")
    rows = metrics = 0
    for title, argv in gen.EXECUTABLES:
        name = gen.page_name(title)
        text = pages[name]
        for section in ("## What it does", "## Settings", "## Metrics", "## Signals and exit status"):
            check(section in text, f"{name} has {section!r}")
        # the table has a row per option of --help (the same count)
        options = re.findall(r"^  --\S+", gen.help_text(os.environ["RTP_BIN_DIR"], argv), re.M)
        table = re.findall(r"^\| `--", text, re.M)
        check(len(table) == len(options), f"{name}: {len(table)} rows for {len(options)} options")
        # every row but --help and --version names its environment variable, and no
        # default swallowed the help's own parenthesis
        bad = [row for row in re.findall(r"^\| `--([\w-]+)[^|]*\| ([^|]*) \| ([^|]*) \|", text, re.M)
               if row[0] not in ("help", "version") and (not row[1].startswith("`RTP_") and
                                                         not row[1].startswith("`REDIS_URL") or "(" in row[2])]
        check(not bad, f"{name}: rows without an environment variable or with a broken default: {bad}")
        rows += len(table)
        metrics += len(re.findall(r"^\| `(?:rtp|process)_\w+` \| (?:counter|gauge|histogram) \|", text, re.M))
        check(f"docs/{name}" in readme, f"README links docs/{name}")
    for title, folder in (("rtp-reader", "reader"), ("rtp-batcher", "batcher"), ("rtp-broker", "broker")):
        check(any(n.startswith(f"rtp_{folder}_") for n, _, _ in gen.metrics_of(title)),
              f"{title}'s page lists its rtp_{folder}_* metrics")
    print(f"{len(pages)} pages current; {rows} setting rows, {metrics} metrics documented")


if __name__ == "__main__":
    rtptest.main(globals())
