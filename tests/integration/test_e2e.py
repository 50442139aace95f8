"""End to end: `rtp up` with a real redis-server and the stand-in server serving both
bundled tweet files once, with panic events mixed in. Waits until the streams are
processed, stops rtp up with SIGTERM, then checks EVERY row in Redis against values
computed independently from the input (rtpcheck / rtp_reference): all right, none
missing, none extra; the panics are in the dead-letter list; nothing is left over.

Run with pools of 1 and 8 workers, and with and without the simulated work."""

import os
import re
import time

import rtpcheck
import rtpredis
import rtptest
from rtptest import check

EXPECTED = rtpcheck.expected_from_files()


def _run_up(redis, *, workers, work_ms, panic_rate, timeout=240):
    """Runs rtp up until every expected tweet is stored; returns (proc, seconds)."""
    args = ["up", "--redis-url", redis.url, "--work-mean-ms", work_ms,
            "--censor-workers", workers, "--sentiment-workers", workers, "--engagement-workers", workers,
            "--replay-loops", 1, "--replay-rate", 2000, "--replay-burst", "false",
            "--replay-panic-rate", panic_rate, "--batch-size", 50, "--batch-ms", 100, "--print", "false",
            "--max-restarts", 1000]
    up = rtptest.Proc("rtp", args)
    start = time.monotonic()
    with redis.client() as c:
        deadline = rtptest.Deadline(timeout)
        stored = 0
        while stored < len(EXPECTED):
            if not up.alive():
                raise AssertionError(f"rtp up exited early ({up.popen.returncode}):\n{up.stderr_text()[-3000:]}")
            if deadline.expired():
                raise AssertionError(f"only {stored} of {len(EXPECTED)} tweets stored after {timeout} s:\n"
                                     f"{up.stderr_text()[-4000:]}")
            time.sleep(0.2)
            stored = c.command("ZCARD", "tweets")
    took = time.monotonic() - start
    time.sleep(1.0)   # let the last panics reach their dead letters
    code = up.stop(timeout=60)
    log = up.stderr_text()
    check(code == 0, f"rtp up exits 0 on SIGTERM, got {code}:\n{log[-3000:]}")
    check("GIVING UP" not in log, "no actor was given up on")
    return up, took


def _verify(redis, up, label):
    with redis.client() as c:
        report = rtpcheck.check_exact(c, EXPECTED, label)
        letters = rtpcheck.dead_letters(c)
    log = up.stderr_text()
    panics_crashed = log.count("received a panic message")
    panic_letters = [d for d in letters if d["reason"].startswith("panic")]
    other_letters = [d for d in letters if not d["reason"].startswith("panic")]
    check(not other_letters, f"{label}: unexpected dead letters: {other_letters[:3]}")
    check(len(panic_letters) == panics_crashed,
          f"{label}: {panics_crashed} workers crashed on a panic, {len(panic_letters)} panic dead letters")
    restarts = log.count("restarted rtp-censor")
    print(f"{label}: {report.summary()}; panics {len(panic_letters)} (workers crashed and restarted: "
          f"{panics_crashed}/{restarts})")
    return panics_crashed


def test_e2e_three_pools_default_sizes_with_panics():
    with rtpredis.RedisServer() as redis:
        up, took = _run_up(redis, workers=3, work_ms=0, panic_rate=0.03)
        panics = _verify(redis, up, "3 workers, no work")
        check(panics > 0, "the stream had panic events and workers crashed on them")
        print(f"  {len(EXPECTED)} tweets stored in {took:.1f} s")


def test_e2e_one_worker_per_pool_with_simulated_work():
    with rtpredis.RedisServer() as redis:
        up, took = _run_up(redis, workers=1, work_ms=2, panic_rate=0.005)
        _verify(redis, up, "1 worker, work 2 ms")
        print(f"  {len(EXPECTED)} tweets stored in {took:.1f} s")


def test_e2e_eight_workers_per_pool_with_simulated_work():
    with rtpredis.RedisServer() as redis:
        up, took = _run_up(redis, workers=8, work_ms=10, panic_rate=0.005)
        _verify(redis, up, "8 workers, work 10 ms")
        print(f"  {len(EXPECTED)} tweets stored in {took:.1f} s")


def _first_tweets(path, n):
    """The records of the first n tweets of a file, as expected_from_files makes them."""
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()][:n]
    tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"rtp-e2e-{os.getpid()}-{os.path.basename(path)}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(lines)
    try:
        return rtpcheck.expected_from_files([tmp])
    finally:
        os.unlink(tmp)


def test_sigterm_mid_stream_flushes_everything_read():
    """SIGTERM while tweets are flowing: every tweet a reader had read is in Redis
    after rtp up exits (the readers stop first, every later stage drains)."""
    with rtpredis.RedisServer() as redis:
        args = ["up", "--redis-url", redis.url, "--work-mean-ms", 5, "--replay-loops", 1,
                "--replay-rate", 150, "--replay-burst", "false", "--replay-panic-rate", 0, "--print", "false"]
        up = rtptest.Proc("rtp", args)
        with redis.client() as c:
            rtptest.wait_until(lambda: c.command("ZCARD", "tweets") > 100, 60, "the first tweets stored")
            stored_before = c.command("ZCARD", "tweets")
        code = up.stop(timeout=60)
        check(code == 0, f"rtp up exits 0, got {code}")
        log = up.stderr_text()
        counts = {}
        for m in re.finditer(r"final stats (tweets-\d): events=\d+ tweets=(\d+)", log):
            counts[m.group(1)] = int(m.group(2))
        check(set(counts) == {"tweets-1", "tweets-2"}, f"both readers logged their final counts: {counts}")
        expected = _first_tweets(rtptest.data_path("tweets-a.jsonl"), counts["tweets-1"])
        for tid, versions in _first_tweets(rtptest.data_path("tweets-b.jsonl"), counts["tweets-2"]).items():
            for v in versions:
                if v not in expected.setdefault(tid, []):
                    expected[tid].append(v)
        check(counts["tweets-1"] < 520 and counts["tweets-2"] < 393, f"stopped mid-stream: {counts}")
        with redis.client() as c:
            report = rtpcheck.check_redis(c, expected)
        for p in report.problems[:20]:
            print("  problem:", p)
        check(not report.problems, f"{len(report.problems)} problems: what was read is not exactly what is stored")
        print(f"  read {counts}, {stored_before} stored when SIGTERM was sent; after the drain: {report.summary()}")


if __name__ == "__main__":
    rtptest.main(globals())
