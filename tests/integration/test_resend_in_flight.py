"""A reader's resend of an event the broker still has in flight is dropped there.

Readers resend what is not acknowledged in time (at-least-once); under load the
first copy is often still being worked on, and processing the resend as well would
spend the capacity that is short already. Here the readers' acknowledgement timeout
(30 ms, backoff up to 400 ms) is far below the time a tweet spends in the system
(simulated censor work of 20 ms a tweet on 2 workers, at about their capacity), so
nearly every record is resent while in flight. Checked: the broker's
rtp_broker_resends_dropped_total counts them (more than 0), its tweets counter
stays below what the readers sent in all (first copies + resends) by at least that
count, and every tweet is in Redis exactly once with the right values.
"""

import os
import re
import shutil
import tempfile
import time

import rtpcheck
import rtpredis
import rtptest
from rtptest import check
from test_metrics import Metrics, read_runinfo, _try_scrape

EXPECTED = rtpcheck.expected_from_files()


def test_resends_of_events_in_flight_are_dropped():
    runtime_dir = tempfile.mkdtemp(prefix="rtpresend-")
    xdg = tempfile.mkdtemp(prefix="rtpresend-xdg-")
    try:
        with rtpredis.RedisServer() as redis, redis.client() as c:
            up = rtptest.Proc("rtp", ["up", "--redis-url", redis.url, "--runtime-dir", runtime_dir, "--print", "false",
                                      "--replay-loops", 1, "--replay-rate", 50, "--replay-burst", "false",
                                      "--replay-panic-rate", 0, "--batch-size", 50, "--batch-ms", 50,
                                      "--censor-workers", 2, "--sentiment-workers", 1, "--engagement-workers", 1],
                              env={"XDG_RUNTIME_DIR": xdg, "RTP_WORK_MEAN_MS": "20",
                                   "RTP_READER_ACK_TIMEOUT_MS": "30", "RTP_READER_ACK_BACKOFF_MAX_MS": "400"})
            info = read_runinfo(up, runtime_dir)
            m = Metrics(info["broker_metrics"])
            rtptest.wait_until(lambda: _try_scrape(m), 20, "the broker's /metrics answering")

            def all_stored():
                if not up.alive():
                    raise AssertionError(f"rtp up exited:\n{up.stderr_text()[-3000:]}")
                return c.command("ZCARD", "tweets") >= len(EXPECTED)
            rtptest.wait_until(all_stored, 180, f"{len(EXPECTED)} tweets stored", interval=0.2)
            time.sleep(1.0)
            final = Metrics(info["broker_metrics"]).scrape()
            report = rtpcheck.check_redis(c, EXPECTED)
            letters = rtpcheck.dead_letters(c)
            code = up.stop(timeout=90)
            log = up.stderr_text()
        dropped = final.get("rtp_broker_resends_dropped_total")
        tweets = final.get("rtp_broker_tweets_total")
        sent = resent = 0
        for name in ("tweets-1", "tweets-2"):
            lines = [ln for ln in log.splitlines() if f"] final stats {name}:" in ln]
            check(len(lines) == 1, f"reader {name} logged its final stats once")
            counts = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[0].split(f"final stats {name}:", 1)[1])}
            sent += counts.get("sent", 0)
            resent += counts.get("resent", 0)
        print(f"readers sent {sent} records and resent {resent}; the broker dropped {dropped} resends of events in "
              f"flight and processed {tweets} tweets; {report.summary()}")
        check(code == 0, f"rtp up exits 0, got {code}")
        check(resent > 0, "the readers resent records (the test's premise)")
        check(dropped is not None and dropped > 0, f"resends of events in flight dropped: {dropped}")
        check(tweets + dropped <= sent + resent, f"tweets {tweets} + dropped {dropped} <= sent {sent} + resent {resent}")
        check(not report.problems, f"every row right: {report.problems[:5]}")
        check(not letters, f"no dead letters: {letters[:3]}")
    finally:
        shutil.rmtree(runtime_dir, ignore_errors=True)
        shutil.rmtree(xdg, ignore_errors=True)


if __name__ == "__main__":
    rtptest.main(globals())
