"""Speculative execution: with 3 censor workers and simulated work, the broker sends
each task to up to 3 idle censor workers; the first result wins, the others are
cancelled (a worker in its simulated work stops early), late results are dropped,
and every tweet is printed exactly once and stored exactly once."""

import collections
import re
import time

import rtpcheck
import rtpredis
import rtptest
from rtptest import check


def test_each_tweet_printed_and_stored_once_with_three_copies():
    expected_lines = rtpcheck.censor_lines()
    records = sum(expected_lines.values())
    expected = rtpcheck.expected_from_files()
    with rtpredis.RedisServer() as redis:
        up = rtptest.Proc("rtp", ["up", "--redis-url", redis.url, "--censor-workers", 3, "--work-mean-ms", 20,
                                  "--replay-loops", 1, "--replay-rate", 40, "--replay-burst", "false",
                                  "--replay-panic-rate", 0, "--print", "true"],
                          env={"RTP_PRINT_PER_SECOND": "0"})   # every tweet printed: they are counted
        with redis.client() as c:
            rtptest.wait_until(lambda: c.command("ZCARD", "tweets") >= len(expected) or not up.alive(), 180,
                               "every tweet stored")
        time.sleep(0.5)
        code = up.stop(timeout=60)
        check(code == 0, f"rtp up exits 0, got {code}")
        with redis.client() as c:
            report = rtpcheck.check_redis(c, expected)
        for p in report.problems[:10]:
            print("  problem:", p)
        check(not report.problems, f"{len(report.problems)} problems in Redis")

    printed = collections.Counter(l for l in up.stdout_text().splitlines() if l.startswith("@"))
    twice = {l: n for l, n in printed.items() if n > expected_lines.get(l, 0)}
    missing = {l: n for l, n in expected_lines.items() if printed.get(l, 0) < n}
    check(not twice, f"{len(twice)} tweets printed more often than they were read, e.g. {list(twice)[:2]}")
    check(not missing, f"{len(missing)} tweets not printed, e.g. {list(missing)[:2]}")
    log = up.stderr_text()
    stats = re.findall(r"speculative copies (\d+), wins (\d+), cancels (\d+)", log)
    copies, wins, cancels = (int(x) for x in stats[-1])
    worker_cancels = sum(int(m) for m in re.findall(r"stopped: done \d+, cancelled (\d+)", log))
    lost_races = sum(int(m) for m in re.findall(r"speculative won \d+ lost (\d+)", log.split("stopping:")[-1]))
    check(copies > 0 and wins > 0 and cancels > 0, f"copies {copies}, wins {wins}, cancels {cancels}")
    check(worker_cancels > 0, "workers stopped simulated work early on CANCEL")
    check("cancelled tweet" in log, "the broker logs its cancellations")
    print(f"{records} records printed exactly once, {report.summary()}; broker: {copies} speculative copies, "
          f"{wins} races won, {cancels} cancels; workers: {worker_cancels} cancelled during work, "
          f"{lost_races} results that lost the race after finishing")


if __name__ == "__main__":
    rtptest.main(globals())
