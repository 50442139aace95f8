#!/usr/bin/env python3
"""Writes docs/settings.md (every executable's settings) and docs/<executable>.md
(one page per executable: what it does, its settings table, its metrics, its signals
and exit status) from each program's --help and the metric definitions in its
sources, so the documentation cannot drift from the code:
scripts/gen-settings-doc.py [BIN_DIR] (default build/bin).
tests/integration/test_docs.py checks every page is current.

Every page is rendered before any file is written: a failing render (an executable
missing or crashing) leaves the committed pages as they were."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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

_WORKER_SIGNALS = ("SIGINT or SIGTERM: stops taking tasks, finishes and sends the results of the tasks it holds, "
                   "and exits 0. A crash (a panic tweet aborts the process on purpose) is seen by its supervisor, "
                   "which restarts it; the broker blames the oldest task it held.")

# What each executable is for, in a short paragraph; where its metrics are defined
# (source folders, relative to the repository); how it stops and what its exit
# status means.
ABOUT = {
    "rtp up": {
        "what": "Runs the whole system in the foreground on one host: a private redis-server and the stand-in "
                "rtp-server unless given URLs, then the broker, the aggregator, the batcher, rtp-hashtags, two "
                "readers (one per stream) and a supervisor link that starts the workers the broker's pool managers "
                "ask for. It restarts any actor that dies (one-for-one, with backoff and an intensity limit), "
                "gives every actor with metrics a free port, and writes the run info (endpoints, Redis URL, the "
                "broker's, batcher's and readers' metrics URLs) to RUNTIME-DIR/rtp-up.json and to a pointer file "
                "that `rtp top` reads.",
        "signals": "SIGINT or SIGTERM: the drain: the readers stop taking events and wait, up to --drain-ms, "
                   "until everything they took is stored, while the rest runs on ('draining: N events in flight, "
                   "R/s stored' every second); then it stops the actors in the order data flows (broker, workers, "
                   "aggregator, batcher, then the services), each with SIGTERM and a deadline before SIGKILL, and "
                   "removes its run info. A second signal ends the drain and stops everything at once. What is not "
                   "stored stays in the readers' spools in the state folder (--state-dir, locked while a run uses "
                   "it) and is sent by the next run there ([durability](durability.md)). Exit status 0, 1 when it "
                   "could not start (state or runtime folder, Redis, the stand-in server, an actor), 2 on a usage "
                   "error.",
        "metrics": "None of its own. `--metrics-port` sets the broker's port (unset or 0: a free one); the batcher, "
                   "the aggregator and each reader get a free port of their own. The URLs are logged at start and "
                   "written into RUNTIME-DIR/rtp-up.json (`broker_metrics`, `batcher_metrics`, "
                   "`aggregator_metrics`, `reader_metrics`); see [rtp-broker](rtp-broker.md), "
                   "[rtp-batcher](rtp-batcher.md), [rtp-aggregator](rtp-aggregator.md) and "
                   "[rtp-reader](rtp-reader.md).",
    },
    "rtp supervise": {
        "what": "A supervisor for another host: connects to the broker's control endpoint, offers this host's "
                "capacity, and runs as many workers of each pool as the broker's pool managers ask, restarting any "
                "that dies (one-for-one, with backoff and an intensity limit). Workers take their other settings "
                "from the environment (RTP_WORK_MEAN_MS, RTP_EMOTION_URL, ...).",
        "signals": "SIGINT or SIGTERM: stops its workers (SIGTERM, then SIGKILL after a deadline) and exits 0; "
                   "2 on a usage error.",
    },
    "rtp top": {
        "what": "A live view of a running system from the broker's /metrics, refreshed every interval: totals and "
                "rates, each pool's workers, target, in-flight tasks, backlog, result rate and task-time "
                "percentiles, speculative copies, lost workers and poison; when it knows the batcher's /metrics, "
                "the end-to-end latency (reader to Redis) p50/p90/p99 and the batcher's records per second, Redis "
                "write time p50/p99, journal size and whether Redis is up; when it knows Redis, the current top "
                "hashtags (`hashtags:top`) with their window, and the latest errors (the newest dead letters with "
                "their reasons). "
                "Full screen on a terminal (q quits), "
                "one key=value status line per interval otherwise. With no URL it finds the system the `rtp up` "
                "of this user on this host started.",
        "signals": "SIGINT or SIGTERM (or q): restores the terminal and exits. Exit status 0, 1 when no system "
                   "was found or the last scrape failed, 2 on a usage error.",
    },
    "rtp-reader": {
        "what": "Reads one Server-Sent Events stream of tweets (one process per stream URL) with libcurl, decodes "
                "each event once and forwards it to the broker as one record (two for a retweet), a panic, or a "
                "malformed event that becomes a dead letter. Reconnects with capped exponential backoff and "
                "jitter, detects stalls, and pauses the HTTP transfer when the broker cannot take more (TCP pushes "
                "back on the server). Each record stays in a window until the batcher's acknowledgement says it is "
                "in Redis, and is resent (same seq) when that is overdue; with --spool-dir it is also kept on "
                "disk and sent again by the next start ([durability](durability.md)).",
        "sources": ["actors/reader"],
        "labels": "Every series but `process_start_time_seconds` has the label `stream`, the reader's origin name "
                  "(`tweets-1`, `tweets-2`).",
        "signals": "SIGINT or SIGTERM: stops reading, waits up to --drain-ms for the acknowledgement of what it "
                   "sent (a second signal, or with a spool the death of its parent, ends the wait; the spool keeps "
                   "what is left), logs its final stats and exits 0; 1 when it could not start (bad endpoint, a "
                   "spool it cannot use), 2 on a usage error.",
    },
    "rtp-broker": {
        "what": "The scheduler: takes the readers' events, fans every tweet out to the three worker pools (least "
                "connected, with speculative copies for the censor pool), forwards the record and each pool's "
                "result to the aggregator, publishes hashtags, passes the batcher's acknowledgements on to the "
                "readers, and keeps the pools honest with heartbeats: a silent worker is declared lost and its "
                "tasks go to others; a task that crashes --max-crashes workers is poison and becomes a dead "
                "letter. Its pool managers ask the supervisors for more or fewer workers as the load changes. It "
                "also decides which censored tweets the censor pool prints: at most --print-per-second a second "
                "in all (a print mark on the task; the rest are counted, and the count reported by the worker "
                "that prints the next marked tweet, at most once a second).",
        "sources": ["broker"],
        "labels": "The per-pool series (workers, target, tasks in flight, backlog, results, late results, "
                  "dispatched, task seconds) have the label `pool`: `censor`, `sentiment` or `engagement`.",
        "signals": "SIGINT or SIGTERM: stops taking events and finishes those in flight for up to --drain-ms, then "
                   "exits 0; 1 when its sockets cannot be bound, 2 on a usage error.",
    },
    "rtp-censor": {
        "sources": ["actors/censor"],
        "what": "A worker of the printer pool: censors the swear words of each tweet, returns the censored text, "
                "and prints the censored tweets the broker marks: the broker marks at most its --print-per-second "
                "a second for the whole pool, however many workers it has and wherever they run, and a marked "
                "tweet may carry the count of those left unprinted, printed before it as `... N more tweets "
                "censored, not printed`. The simulated Poisson work (--work-mean-ms) runs here.",
        "signals": _WORKER_SIGNALS,
    },
    "rtp-sentiment": {
        "sources": ["actors/sentiment"],
        "what": "A worker of the sentiment pool: scores each tweet with the AFINN list, loaded at start from the "
                "server's /emotion_values (falling back to the bundled copy, and saying so, when the server gives "
                "no usable list).",
        "signals": _WORKER_SIGNALS,
    },
    "rtp-engagement": {
        "sources": ["actors/engagement"],
        "what": "A worker of the engagement pool: (favorites + retweets) / followers of each tweet (a retweet's "
                "counts are the original's).",
        "signals": _WORKER_SIGNALS,
    },
    "rtp-hashtags": {
        "sources": ["actors/hashtags"],
        "what": "Every interval, the most popular hashtags of the last interval, from the hashtags the broker "
                "publishes: printed on stdout and kept in Redis (`hashtags:top`, `hashtags:window`).",
        "signals": "SIGINT or SIGTERM: logs its counts (reports, tweets counted, duplicates skipped) and exits 0; "
                   "1 when it cannot start (socket, CURVE keys, Redis URL), 2 on a usage error.",
    },
    "rtp-aggregator": {
        "sources": ["actors/aggregator"],
        "labels": "No labels.",
        "what": "Joins each event's record with its three pool results and hands complete records to the batchers "
                "as fast as they ask (credit-based pull), holding at most --max-pending. A join still incomplete "
                "after its timeout becomes a dead letter, never dropped silently.",
        "signals": "SIGINT or SIGTERM: reads the parts already queued, turns every incomplete join into a dead "
                   "letter, delivers what is ready as credit allows (up to its drain timeout) and exits 0; 1 when "
                   "the sockets could not be set up or messages were left undelivered, 2 on a usage error.",
    },
    "rtp-batcher": {
        "what": "Takes complete records from the aggregator (granting it credit for exactly the room it has) and "
                "writes them to Redis in batches of --batch-size, or --batch-ms after a batch's first record, each "
                "idempotent and all or nothing per row (read with plain commands, then written in one MULTI/EXEC "
                "when nothing in it is unusual, else by the batch script); then acknowledges them to their "
                "readers through the broker. "
                "While Redis is away it keeps taking records into a bounded on-disk journal and replays it, in "
                "order, once Redis answers. Prints a summary of the batches on stdout, at most "
                "--print-per-second lines a second, each with the batches and records since the last line.",
        "sources": ["actors/batcher"],
        "labels": "No labels.",
        "signals": "SIGINT or SIGTERM: keeps taking records for up to --drain-ms (or until the aggregator is quiet "
                   "for --quiet-ms), writes everything it holds and replays the journal for up to "
                   "--finish-timeout-ms, and exits 0; what Redis did not take stays in the journal for the next "
                   "start. Exit status 1 when records were lost or the journal cannot be opened, 2 on a bad URL or "
                   "usage error.",
    },
    "rtp-replay": {
        "sources": ["actors/replay"],
        "what": "The stand-in for the lab's rtp-server: /tweets/1 and /tweets/2 as Server-Sent Events replayed "
                "from the bundled tweets at a set rate (with bursts, a rate schedule and panics like the real "
                "server), /emotion_values and /. Prints \"listening on http://HOST:PORT\" on stdout once it "
                "accepts connections.",
        "signals": "SIGINT or SIGTERM: closes its connections and exits 0; 1 when it cannot listen or read its "
                   "data, 2 on a usage error.",
    },
}

_METRIC = re.compile(r'"((?:rtp|process)_[a-z0-9_]+)"\s*,\s*(?:RTP_METRIC_(COUNTER|GAUGE)\s*,\s*)?'
                     r'((?:"(?:[^"\\]|\\.)*"\s*)+)')


def page_name(title):
    """docs/ file name of an executable: "rtp up" -> "rtp-up.md"."""
    return title.replace(" ", "-") + ".md"


def metrics_of(title):
    """[(name, type, help)] defined in the executable's sources, in order."""
    out, seen = [], set()
    for folder in ABOUT[title].get("sources", []):
        path = os.path.join(ROOT, folder)
        for fname in sorted(os.listdir(path)):
            if not fname.endswith(".c"):
                continue
            with open(os.path.join(path, fname), encoding="utf-8") as f:
                text = f.read()
            for m in _METRIC.finditer(text):
                name = m.group(1)
                help_text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(3))).replace('\\"', '"')
                if name in seen or not help_text:
                    continue
                seen.add(name)
                before = text[max(0, m.start() - 120):m.start()]
                kind = ("histogram" if "add_histogram" in before.split(";")[-1] else
                        "counter" if name.endswith("_total") else "gauge")
                out.append((name, kind, help_text))
    return out


def parse_help(text):
    """[(flag, env, default, help)] from a --help text."""
    out = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^  --(\S+)(?: (\S+))?$", line)
        if not m or i + 1 >= len(lines):
            continue
        desc = lines[i + 1].strip()
        env = default = ""
        # the last parenthesis is the settings reader's (the help may have its own before it)
        tail = re.match(r"^(.*) \((?:env ([A-Z0-9_]+); )?default: (.*)\)$", desc)
        if tail:
            desc, env, default = tail.group(1).rstrip(), tail.group(2) or "", tail.group(3)
        flag = f"--{m.group(1)}" + (f" {m.group(2)}" if m.group(2) else "")
        out.append((flag, env, default, desc))
    return out


def _cell(text):
    return text.replace("|", "\\|") if text else "-"


def help_text(bin_dir, argv):
    return subprocess.run([os.path.join(bin_dir, argv[0]), *argv[1:]], capture_output=True, text=True,
                          check=True).stdout


def render_page(title, help_out):
    about = ABOUT[title]
    lines = help_out.splitlines()
    summary = lines[1] if len(lines) > 1 else ""
    out = [f"# {title}", "",
           f"Generated by `scripts/gen-settings-doc.py` from `{title} --help` and the metric definitions in the "
           "sources; do not edit by hand. All executables: [settings.md](settings.md), [README](../README.md).",
           "", f"**{summary}**", "", "## What it does", "", about["what"], "",
           "## Settings", "",
           "Each setting is a flag (`--name VALUE` or `--name=VALUE`), else its environment variable, else its "
           "default.", "",
           "| flag | environment | default | meaning |", "|---|---|---|---|"]
    for flag, env, default, desc in parse_help(help_out):
        out.append(f"| `{flag}` | {('`' + env + '`') if env else '-'} | {_cell(default)} | {_cell(desc)} |")
    out += ["", "## Metrics", ""]
    metrics = metrics_of(title)
    if metrics:
        out += ["Served in the Prometheus text format on `http://HOST:PORT/metrics` when `--metrics-port` is set "
                "(0: a free port, logged); `rtp up` gives it a port and writes the URL into its run info "
                "(RUNTIME-DIR/rtp-up.json). " + about.get("labels", ""), "",
                "| name | type | meaning |", "|---|---|---|"]
        out += [f"| `{name}` | {kind} | {_cell(help_)} |" for name, kind, help_ in metrics]
    else:
        out.append(about.get("metrics", "None: it serves no /metrics (`--metrics-port` is accepted and ignored)."))
    out += ["", "## Signals and exit status", "", about["signals"], ""]
    return "\n".join(out)


def render(bin_dir):
    """docs/settings.md's text (kept as one function: test_docs.py calls it)."""
    return render_all(bin_dir)["settings.md"]


def render_all(bin_dir):
    """{file name under docs/: text} of every page."""
    out = ["# Settings of every executable",
           "",
           "Generated from each program's `--help` by `scripts/gen-settings-doc.py`; do not edit by hand.",
           "Every setting is a flag (`--name VALUE` or `--name=VALUE`), else its environment variable,",
           "else its default. Each executable also has a page of its own: "
           + ", ".join(f"[{t}]({page_name(t)})" for t, _ in EXECUTABLES) + ".",
           ""]
    pages = {}
    for title, argv in EXECUTABLES:
        text = help_text(bin_dir, argv)
        out += [f"## {title}", "", "```", text.rstrip("\n"), "```", ""]
        pages[page_name(title)] = render_page(title, text)
    pages["settings.md"] = "\n".join(out)
    return pages


if __name__ == "__main__":
    bin_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bin")
    pages = render_all(bin_dir)   # everything first: a failure leaves every file as it was
    for name, text in pages.items():
        with open(os.path.join(ROOT, "docs", name), "w", encoding="utf-8") as f:
            f.write(text)
    print(f"wrote {len(pages)} pages to docs/")
