"""The censor pool prints a readable number of tweets a second in all, however many
censor workers run: the broker marks at most --print-per-second tasks a second to
be printed (broker/print_budget.h), the workers print only those, and the rest are
counted and reported on stdout ("... N more tweets censored, not printed"). With 12
workers and 5 a second: every printed line is a tweet of the data, censored; the
broker's count of marked tweets is the number of lines printed (each once, the
speculative copies included); the reported counts add up to no more than the
broker's unprinted count; and the lines printed stay within 5 a second of the
time rtp up ran (plus the first burst), whatever the machine's load (a slow
machine prints fewer, never more)."""

import collections
import re
import shutil
import tempfile
import time

import rtpcheck
import rtpredis
import rtptest
from rtptest import check
from test_metrics import Metrics, read_runinfo, _try_scrape

PER_SECOND = 5
BURST = (PER_SECOND + 1) // 2


def test_twelve_workers_print_five_a_second_in_all():
    lines = rtpcheck.censor_lines()
    expected = rtpcheck.expected_from_files()
    runtime_dir = tempfile.mkdtemp(prefix="rtpprint-")
    xdg = tempfile.mkdtemp(prefix="rtpprint-xdg-")
    try:
        with rtpredis.RedisServer() as redis:
            started = time.monotonic()
            up = rtptest.Proc("rtp", ["up", "--redis-url", redis.url, "--runtime-dir", runtime_dir,
                                      "--censor-workers", 12, "--work-mean-ms", 2, "--replay-loops", 1,
                                      "--replay-rate", 150, "--replay-burst", "false", "--replay-panic-rate", 0],
                              env={"XDG_RUNTIME_DIR": xdg,
                                   "RTP_PRINT_PER_SECOND": str(PER_SECOND)})   # the setting, by its variable
            metrics = Metrics(read_runinfo(up, runtime_dir)["broker_metrics"])
            rtptest.wait_until(lambda: _try_scrape(metrics), 30, "the broker's /metrics answering")
            with redis.client() as c:
                rtptest.wait_until(lambda: c.command("ZCARD", "tweets") >= len(expected) or not up.alive(), 300,
                                   "every tweet stored")
            # a speculative task's winner prints when the broker's WON reaches it
            marked_now = int(metrics.scrape().get("rtp_broker_tweets_printed_total") or 0)
            rtptest.wait_until(lambda: sum(l.startswith("@") for l in up.stdout_text().splitlines()) >= marked_now,
                               30, f"the {marked_now} marked tweets printed")
            code = up.stop(timeout=60)
            ran = time.monotonic() - started
            check(code == 0, f"rtp up exits 0, got {code}")
            with redis.client() as c:
                report = rtpcheck.check_redis(c, expected)
            check(not report.problems, f"every row right: {report.problems[:5]}")
    finally:
        shutil.rmtree(runtime_dir, ignore_errors=True)
        shutil.rmtree(xdg, ignore_errors=True)

    out = up.stdout_text().splitlines()
    printed = [l for l in out if l.startswith("@")]
    reports = [int(m.group(1)) for l in out for m in [re.match(r"\.\.\. (\d+) more tweets censored, not printed", l)]
               if m]
    strange = [l for l in printed if l not in lines]
    check(not strange, f"printed lines that are no censored tweet of the data: {strange[:3]}")
    twice = {l: n for l, n in collections.Counter(printed).items() if n > lines[l]}
    check(not twice, f"tweets printed more often than read: {list(twice)[:3]}")
    stats = re.findall(r"censored tweets printed (\d+), not printed (\d+)", up.stderr_text())
    check(stats, "the broker logs its print counts")
    marked, unprinted = (int(x) for x in stats[-1])
    records = sum(lines.values())
    print(f"{records} records, 12 censor workers, {PER_SECOND}/s: {len(printed)} tweets printed in {ran:.1f} s, "
          f"{len(reports)} count lines reporting {sum(reports)}; the broker marked {marked} and counted {unprinted}")
    check(len(printed) == marked, f"every marked tweet printed once: {len(printed)} lines, {marked} marked")
    check(marked + unprinted >= records, f"every censor task marked or counted: {marked} + {unprinted} < {records}")
    check(unprinted > 0 and reports, "tweets were left unprinted, and the count reported")
    check(sum(reports) <= unprinted, f"reported {sum(reports)} <= counted {unprinted}")
    check(len(printed) <= PER_SECOND * ran + BURST,
          f"{len(printed)} lines in {ran:.1f} s: more than {PER_SECOND} a second (+{BURST})")


if __name__ == "__main__":
    rtptest.main(globals())
