"""Nothing lost, nothing doubled (short version of the fault-injection suite): both
bundled streams flow through `rtp up` while a worker of each pool, the aggregator,
the batcher and the broker are each killed with SIGKILL at random moments and Redis
is stopped for a few seconds; afterwards every tweet is in Redis exactly once with
the right values (checked row by row against an independent computation), and the
test prints lost = 0, duplicated = 0. The readers' acknowledgement window and
resends, the batcher's journal and the idempotent store make this hold."""

import json
import os
import random
import re
import shutil
import signal
import tempfile
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



def test_reader_killed_restarts_and_loses_little():
    """A reader killed with SIGKILL is restarted and reconnected (the time it took is
    printed, about 0.1 s on an idle machine; not asserted, since a busy one can take
    seconds to schedule the new process: the bound is the 10 s waits). The SSE
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


def _unique_copies(src, dst, copies, tag):
    """Writes `copies` copies of every tweet of src into dst, each copy with its own ids
    (tweet, retweeted original, users), so that every record of the stream is a
    different row and a lost one cannot hide behind a later copy of itself."""
    with open(src, encoding="utf-8") as f:
        tweets = [json.loads(line) for line in f if line.strip()]

    def rename(obj, k):
        if not isinstance(obj, dict):
            return
        for field in ("id_str",):
            if isinstance(obj.get(field), str):
                obj[field] = f"{obj[field]}{tag}{k:03d}"
        if isinstance(obj.get("id"), int):
            obj["id"] = obj["id"] * 1000 + k if obj["id"] < 2 ** 40 else obj["id"]
        rename(obj.get("user"), k)
        rename(obj.get("retweeted_status"), k)

    n = 0
    with open(dst, "w", encoding="utf-8") as out:
        for k in range(copies):
            for t in tweets:
                copy = json.loads(json.dumps(t))
                rename(copy, k)
                out.write(json.dumps(copy, ensure_ascii=False) + "\n")
                n += 1
    return n


def test_20000_tweets_at_2000_per_second_with_kills_and_redis_away():
    """The acceptance scenario: 20,000 tweets at 2,000/s (two streams of 1,000/s) while
    a worker of each pool, the aggregator, the batcher and the broker are each killed
    with SIGKILL at random moments and Redis is stopped for 5 seconds."""
    rng = random.Random(int(os.environ.get("RTP_TEST_SEED", "11")))
    folder = tempfile.mkdtemp(prefix="rtp-20k-")
    try:
        a, b = os.path.join(folder, "a.jsonl"), os.path.join(folder, "b.jsonl")
        n = _unique_copies(rtptest.data_path("tweets-a.jsonl"), a, 20, "1") + \
            _unique_copies(rtptest.data_path("tweets-b.jsonl"), b, 26, "2")
        expected = rtpcheck.expected_from_files([a, b])
        replay = rtptest.start_replay("--tweets-1", a, "--tweets-2", b, "--loops", 1, "--rate", 1000,
                                      "--burst", "false", "--panic-rate", 0)
        with rtpredis.RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "everysec"]) as redis:
            up = rtptest.Proc("rtp", ["up", "--redis-url", redis.url, "--rtp-url", replay.url,
                                      "--censor-workers", 3, "--sentiment-workers", 2, "--engagement-workers", 2,
                                      "--work-mean-ms", 0, "--print", "false"],
                              env={"RTP_READER_ACK_TIMEOUT_MS": "5000", "RTP_READER_ACK_BACKOFF_MAX_MS": "10000"})
            with redis.client() as c:
                rtptest.wait_until(lambda: c.command("ZCARD", "tweets") > 500, 60, "the stream flowing")
            start = time.monotonic()
            order = VICTIMS[:]
            rng.shuffle(order)
            redis_at = rng.uniform(1.0, 6.0)
            killed, redis_done = [], False
            for name in order:
                time.sleep(rng.uniform(0.3, 1.3))
                if not redis_done and time.monotonic() - start > redis_at:
                    redis.stop()
                    time.sleep(5.0)
                    redis.start()
                    redis_done = True
                pids = rtptest.children(up.pid, name)
                if pids:
                    os.kill(rng.choice(pids), signal.SIGKILL)
                    killed.append(name)
            if not redis_done:
                redis.stop()
                time.sleep(5.0)
                redis.start()
            with redis.client() as c:
                rtptest.wait_until(lambda: c.command("ZCARD", "tweets") >= len(expected) or not up.alive(), 240,
                                   "every tweet stored", interval=0.5)
            code = up.stop(timeout=90)
            with redis.client() as c:
                report = rtpcheck.check_redis(c, expected)
                stored = c.command("ZCARD", "tweets")
                letters = rtpcheck.dead_letters(c)
        # The broker sends an event's record and results together, as one atomic
        # bundle, once every pool answered: no crash can leave the aggregator half a
        # join, so no dead letter at all is expected (an "incomplete join" would be
        # a tweet reported failed although it is stored).
        abandoned = [d for d in letters if d["reason"].startswith("incomplete join")]
        others = [d for d in letters if not d["reason"].startswith("incomplete join")]
        replay.stop()
        check(code == 0, f"rtp up exits 0, got {code}")
        check(sorted(killed) == sorted(VICTIMS), f"every victim killed once: {killed}")
        lost = len(expected) - stored
        for p in report.problems[:10]:
            print("  problem:", p)
        print(f"{n} tweets ({len(expected)} records) at 2 x 1000/s; killed {killed}; Redis away 5 s; "
              f"lost = {lost}, duplicated = {len(report.problems) - max(lost, 0)}; {len(abandoned)} interrupted "
              f"joins; {report.summary()}")
        check(lost == 0 and not report.problems, "nothing lost, nothing doubled, every row right")
        check(not abandoned, f"no join cut short by a crash: {abandoned[:3]}")
        check(not others, f"no other dead letters: {others[:3]}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    rtptest.main(globals())
