"""Nothing lost, nothing doubled (short version of the fault-injection suite): both
bundled streams flow through `rtp up` while a worker of each pool, the aggregator,
the batcher and the broker are each killed with SIGKILL at random moments and Redis
is stopped for a few seconds; afterwards every tweet is in Redis exactly once with
the right values (checked row by row against an independent computation), and the
test prints lost = 0, duplicated = 0. The readers' acknowledgement window and
resends, the batcher's journal and the idempotent store make this hold."""

import os
import random
import re
import signal
import time

import rtpcheck
import rtpredis
import rtptest
from rtptest import check

EXPECTED = rtpcheck.expected_from_files()
VICTIMS = ["rtp-censor", "rtp-sentiment", "rtp-engagement", "rtp-aggregator", "rtp-batcher", "rtp-broker"]


def test_kill_everything_once_and_stop_redis_nothing_lost():
    rng = random.Random(int(os.environ.get("RTP_TEST_SEED", "7")))
    # a Redis that keeps its data across the stop (append-only file), as a real one does
    with rtpredis.RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "always"]) as redis:
        up = rtptest.Proc("rtp", ["up", "--redis-url", redis.url, "--censor-workers", 3, "--sentiment-workers", 2,
                                  "--engagement-workers", 2, "--work-mean-ms", 2, "--replay-loops", 1,
                                  "--replay-rate", 60, "--replay-burst", "false", "--replay-panic-rate", 0,
                                  "--print", "false"],
                          env={"RTP_READER_ACK_TIMEOUT_MS": "3000", "RTP_READER_ACK_BACKOFF_MAX_MS": "6000"})
        with redis.client() as c:
            rtptest.wait_until(lambda: c.command("ZCARD", "tweets") > 20, 60, "the first tweets stored")
        # the stream lasts ~9 s (913 events at 2 x 60/s): kill each victim once, in a random order, at random moments
        order = VICTIMS[:]
        rng.shuffle(order)
        killed = []
        redis_stopped_at = rng.uniform(1.0, 5.0)
        start = time.monotonic()
        redis_down = False
        for name in order + ["redis"]:
            if name == "redis":
                break
            time.sleep(rng.uniform(0.3, 1.2))
            if not redis_down and time.monotonic() - start > redis_stopped_at:
                redis.stop()
                redis_down, redis_down_at = True, time.monotonic()
            pids = rtptest.children(up.pid, name)
            if pids:
                os.kill(rng.choice(pids), signal.SIGKILL)
                killed.append(name)
        if not redis_down:
            redis.stop()
            redis_down_at = time.monotonic()
        time.sleep(max(0.0, 5.0 - (time.monotonic() - redis_down_at)))
        redis.start()
        with redis.client() as c:
            rtptest.wait_until(lambda: c.command("ZCARD", "tweets") >= len(EXPECTED) or not up.alive(), 90,
                               "every tweet stored after the faults")
        code = up.stop(timeout=60)
        check(code == 0, f"rtp up exits 0, got {code}")
        with redis.client() as c:
            report = rtpcheck.check_redis(c, EXPECTED)
            letters = rtpcheck.dead_letters(c)
            stored = c.command("ZCARD", "tweets")
    for p in report.problems[:20]:
        print("  problem:", p)
    log = up.stderr_text()
    lost = len(EXPECTED) - stored
    # A tweet stored twice would show as a wrong user total or a user:<id>:tweets set
    # differing from the rows (check_redis), or as a second dead letter for one event.
    duplicated = len(report.problems) - lost if report.problems else 0
    seen = {(d["origin"], d["seq"]) for d in letters}
    check(len(seen) == len(letters), f"no dead letter written twice: {len(letters)} letters, {len(seen)} events")
    check(sorted(killed) == sorted(VICTIMS), f"every victim was killed once: {killed}")
    restarted = [v for v in VICTIMS if f"restarted {v}" in log]
    resent = sum(int(x) for x in re.findall(r"final stats .* resent=(\d+)", log))
    print(f"killed {killed}; restarted {restarted}; Redis stopped 5 s; records resent by readers: {resent}")
    print(f"lost = {lost}, duplicated = {duplicated}; {report.summary()}")
    check(lost == 0 and duplicated == 0 and not report.problems, "nothing lost, nothing doubled, every row right")



def test_reader_killed_restarts_within_a_second():
    """A reader killed with SIGKILL is restarted and reconnected within 1 s. The SSE
    source cannot replay: what a server sends while no reader listens is lost. The
    stand-in server keeps one cursor per stream and sends nothing while no client is
    connected (the lab's server streams on regardless, so there the loss is the
    events of that second); records the dead reader had sent but not seen
    acknowledged are stored anyway, since they had reached the broker; records it had
    read but not yet handed to ZeroMQ die with it. The loss is counted and must stay
    below what one second of the stream brings."""
    with rtpredis.RedisServer() as redis:
        up = rtptest.Proc("rtp", ["up", "--redis-url", redis.url, "--censor-workers", 2, "--sentiment-workers", 1,
                                  "--engagement-workers", 1, "--work-mean-ms", 0, "--replay-loops", 1,
                                  "--replay-rate", 100, "--replay-burst", "false", "--replay-panic-rate", 0,
                                  "--print", "false"])
        with redis.client() as c:
            rtptest.wait_until(lambda: c.command("ZCARD", "tweets") > 50, 60, "the first tweets stored")
            victim = rtptest.children(up.pid, "rtp-reader")[0]
            os.kill(victim, signal.SIGKILL)
            killed_at = time.time()
            up.wait_log(r"restarted rtp-reader#\d", 10)
            restarted = [p for p in rtptest.children(up.pid, "rtp-reader") if p != victim]
            check(len(restarted) == 2, f"two readers again: {restarted}")
            connected = rtptest.wait_until(
                lambda: [l for l in up.stderr_text().splitlines()
                         if re.search(r"rtp-reader\[(%s)\] connected to" % "|".join(map(str, restarted)), l)
                         and _stamp(l) > killed_at], 10, "the new reader connected")
            took = _stamp(connected[0]) - killed_at
            print(f"  reader killed; restarted and connected after {took * 1000:.0f} ms")
            check(took < 1.0, f"restarted and reconnected within 1 s ({took:.2f} s)")
            # done when every tweet is stored, or when nothing more arrives for 5 s
            last = [c.command("ZCARD", "tweets"), time.monotonic()]

            def settled():
                n = c.command("ZCARD", "tweets")
                if n != last[0]:
                    last[:] = [n, time.monotonic()]
                return n >= len(EXPECTED) or time.monotonic() - last[1] > 5

            rtptest.wait_until(settled, 150, "the stream processed", interval=0.2)
        code = up.stop(timeout=60)
        check(code == 0, f"rtp up exits 0, got {code}")
        with redis.client() as c:
            report = rtpcheck.check_redis(c, EXPECTED, allow_missing=True)
        lost = report.counts.get("missing", 0)
        check(not report.problems, f"{len(report.problems)} problems: {report.problems[:5]}")
        check(lost <= 2 * 100, f"lost {lost} tweets: more than one second of both streams")
        print(f"  lost when the reader was killed: {lost} tweets (read by the dead reader but not yet handed "
              f"on); {report.summary()}")


def _stamp(line):
    """A log line's time in seconds since the epoch."""
    import datetime
    when = datetime.datetime.strptime(line.split(" ", 1)[0], "%Y-%m-%dT%H:%M:%S.%fZ")
    return when.replace(tzinfo=datetime.timezone.utc).timestamp()


if __name__ == "__main__":
    rtptest.main(globals())
