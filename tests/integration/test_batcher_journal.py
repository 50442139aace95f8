"""The batcher's on-disk journal: while Redis is away (or answers errors) the batcher
keeps taking records into a bounded journal and replays it, in order, when Redis is
back; it survives its own SIGKILL with a non-empty journal.

With `rtp up` (the stand-in server streaming both files in a loop at 1000 events/s per
stream, no simulated work), against a redis-server of the test's own:
  - Redis stopped for 30 s and restarted (empty): the batcher switches to the journal
    (log line) and keeps taking records at the rate it took them before, its peak
    RSS stays bounded, the journal drains when Redis is back (log line, size 0, no
    files), and after SIGTERM every record of both files is in Redis exactly once
    with the right values; counts agree along the way (the aggregator sent = the
    batcher received = written to Redis; journaled = replayed);
  - the batcher SIGKILLed while Redis is down and its journal holds records: rtp up
    restarts it, it recovers the journal (at least what the dead one had logged)
    and replays it once Redis is back.
With the aggregator and batcher alone (tests/helpers/parts_feeder standing in for the
broker, every record distinct and sent once, so any loss shows):
  - Redis answering errors (maxmemory 1, noeviction: OOM) with a password and db 3:
    records are journaled, nothing is written while the errors last, everything is
    stored exactly once after;
  - SIGKILL with everything journaled, plus a torn append at the end of the journal:
    a new batcher discards the torn tail (counted), replays the rest, and every row
    is right;
  - a small --journal-max-bytes: the journal never grows past it (files on disk
    checked), the batcher then holds its window and grants no credit, and all is
    stored once Redis is back.
"""

import atexit
import datetime
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rtpcheck  # noqa: E402
import rtptest  # noqa: E402
from rtpredis import RedisServer  # noqa: E402
from rtptest import check  # noqa: E402
from test_aggregator_batcher import (Expected, Pipeline, batch_lines, check_redis,  # noqa: E402
                                     load_records, shuffled_parts, stats_lines)

EXPECTED = rtpcheck.expected_from_files()
STATS = re.compile(r"([a-z_]+)=(-?\d+)")
_dirs = []


def _temp_dir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    _dirs.append(d)
    return d


def _cleanup():
    if not os.environ.get("RTP_TEST_KEEP"):
        for d in _dirs:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)


# ---- rtp up helpers ------------------------------------------------------------------

def _start_up(redis, runtime):
    args = ["up", "--redis-url", redis.url, "--runtime-dir", runtime, "--state-dir", runtime, "--work-mean-ms", 0,
            "--replay-rate", 1000, "--replay-loops", 0, "--replay-burst", "false", "--replay-panic-rate", 0,
            "--print", "false", "--censor-workers", 2, "--sentiment-workers", 2, "--engagement-workers", 2,
            "--max-restarts", 1000]
    return rtptest.Proc("rtp", args, env={"RTP_STATS_MS": "250"})


def _batcher_pid(up):
    """The pid of rtp up's rtp-batcher child (None when there is none right now)."""
    out = subprocess.run(["pgrep", "-P", str(up.pid), "-x", "rtp-batcher"], capture_output=True, text=True,
                         timeout=5).stdout.split()
    return int(out[0]) if len(out) == 1 else None


def _vmhwm_kib(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def _actor_stats(up, actor, label="stats", pid=None):
    """Every `label` line of an actor in rtp up's log, as dicts of ints, in order."""
    who = re.escape(actor) + (r"\[%d\]" % pid if pid else r"\[\d+\]")
    rx = re.compile(who + " " + re.escape(label) + " (.*)$")
    out = []
    for line in up.stderr_text().splitlines():
        m = rx.search(line)
        if m:
            out.append({k: int(v) for k, v in STATS.findall(m.group(1))})
    return out


def _last(up, actor, pid=None):
    lines = _actor_stats(up, actor, pid=pid)
    return lines[-1] if lines else {}


def _wait_all_stored(redis, up, timeout):
    with redis.client() as c:
        def done():
            check(up.alive(), f"rtp up exited:\n{up.stderr_text()[-3000:]}")
            return c.command("ZCARD", "tweets") == len(EXPECTED)
        rtptest.wait_until(done, timeout, f"all {len(EXPECTED)} distinct tweets stored", interval=0.1)


def _segments(folder):
    try:
        return [f for f in os.listdir(folder) if f.endswith(".seg")]
    except FileNotFoundError:
        return []


def _verify_redis(redis, label):
    with redis.client() as c:
        report = rtpcheck.check_redis(c, EXPECTED)
        stored = c.command("ZCARD", "tweets")
    for p in report.problems[:20]:
        print("  problem:", p)
    check(not report.problems, f"{label}: {len(report.problems)} problems in Redis")
    check(stored == len(EXPECTED), f"{label}: {stored} tweets stored, {len(EXPECTED)} distinct ids expected")
    return report


# ---- rtp up: Redis away for 30 s -------------------------------------------------------

def test_redis_down_30s_under_load():
    runtime = _temp_dir("rtptest-journal-up-")
    journal = os.path.join(runtime, "journal")
    with RedisServer() as redis:
        up = _start_up(redis, runtime)
        _wait_all_stored(redis, up, 60)
        pid = _batcher_pid(up)
        check(pid is not None, "rtp up runs one rtp-batcher")
        # the rate the batcher takes records at while Redis is fine
        time.sleep(1.0)
        a = _last(up, "rtp-batcher", pid)
        time.sleep(4.0)
        b = _last(up, "rtp-batcher", pid)
        normal_rate = (b["received"] - a["received"]) / 4.0
        # counts, not rates (a busy machine is slower): the batcher takes more than its
        # window of records, so the stream flows through it
        check(b["received"] - a["received"] > b["window"],
              f"the stream flows before the outage ({normal_rate:.0f} records/s)")

        redis.stop()   # no SAVE: it comes back empty, so what it holds after came through the journal
        down_at = time.monotonic()
        up.wait_log(r"rtp-batcher\[%d\] .*Redis is away \(.*\): journaling records to %s" % (pid, re.escape(journal)),
                    10)
        # while Redis is away the batcher keeps taking records, at the rate it did before
        # (measured before the readers' own windows of unacknowledged records can fill)
        while time.monotonic() - down_at < 2.0:
            time.sleep(0.1)
        a = _last(up, "rtp-batcher", pid)
        while time.monotonic() - down_at < 12.0:
            time.sleep(0.1)
        b = _last(up, "rtp-batcher", pid)
        away_rate = (b["received"] - a["received"]) / 10.0
        # a batcher that stopped at Redis's outage takes at most its window more; this
        # one journals and goes on taking (the rates are figures: 0.5 x or better on
        # an idle machine)
        print(f"  the batcher took {away_rate:.0f} records/s with Redis away, {normal_rate:.0f}/s before")
        check(b["received"] - a["received"] > 3 * b["window"],
              f"the batcher went on taking records with Redis away: {b['received'] - a['received']} in 10 s "
              f"(window {b['window']})")
        check(b["journal_records"] > 0 and b["healthy"] == 1 and b["held"] <= b["window"],
              f"batcher with Redis away: {b}")
        check(_segments(journal), f"no journal segment files in {journal}")
        while time.monotonic() - down_at < 30.0:
            check(up.alive(), "rtp up died")
            time.sleep(0.2)
        peak_away = _last(up, "rtp-batcher", pid)
        redis.start()
        back_at = time.monotonic()
        up.wait_log(r"rtp-batcher\[%d\] .*journal drained: \d+ records replayed" % pid, 60)
        drained_s = time.monotonic() - back_at
        replay_s = _log_seconds(up, pid, r"Redis is back", r"journal drained")
        rtptest.wait_until(lambda: _last(up, "rtp-batcher", pid)["journal_bytes"] == 0, 10, "journal size 0")
        after = _last(up, "rtp-batcher", pid)
        check(after["journal_records"] == 0 and not _segments(journal), f"journal not empty after the drain: {after}")
        _wait_all_stored(redis, up, 30)
        hwm = _vmhwm_kib(pid)
        time.sleep(2.0)   # the stream goes on, straight to Redis again
        code = up.stop(timeout=60)
        check(code == 0, f"rtp up exits 0 on SIGTERM, got {code}:\n{up.stderr_text()[-3000:]}")
        log = up.stderr_text()
        check("GIVING UP" not in log, "no actor was given up on")
        check(_batcher_pid_count(log) == 1, "the batcher was not restarted")

        report = _verify_redis(redis, "Redis down 30 s")
        final = _actor_stats(up, "rtp-batcher", "final stats", pid)[-1]
        agg = _actor_stats(up, "rtp-aggregator", "final stats")[-1]
        written = final["records"]
        check(final["journal_records"] == 0 and final["journaled"] == final["replayed"] > 0,
              f"batcher journaled {final['journaled']}, replayed {final['replayed']}, left {final['journal_records']}")
        check(final["received"] == written and final["held"] == 0,
              f"batcher received {final['received']}, wrote {written}, holds {final['held']}")
        check(agg["sent"] == final["received"],
              f"the aggregator sent {agg['sent']}, the batcher received {final['received']}")
        # AddressSanitizer keeps freed memory in quarantine (256 MiB) and adds shadow memory
        bound_mib = 1024 if _sanitized("rtp-batcher") else 256
        check(hwm is not None and hwm < bound_mib * 1024, f"batcher peak RSS {hwm} KiB, bound {bound_mib} MiB")
        print(f"  before: {normal_rate:.0f} records/s; Redis away 30 s: {away_rate:.0f} records/s taken, "
              f"{peak_away['journal_records']} records ({peak_away['journal_bytes'] / 1e6:.1f} MB, "
              f"{peak_away['journal_segments']} segments) journaled, fsync avg {peak_away['fsync_avg_us']} us max "
              f"{peak_away['fsync_max_us']} us over {peak_away['fsyncs']} appends; drained {drained_s:.1f} s after "
              f"Redis came back (the first retry waits out the backoff; the replay itself took {replay_s:.1f} s); "
              f"batcher peak RSS (VmHWM) {hwm / 1024:.1f} MiB"
              f"{' (sanitizer build)' if bound_mib > 256 else ''}")
        print(f"  batcher: received {final['received']}, written {written} ({final['batches']} batches), journaled "
              f"{final['journaled']} = replayed {final['replayed']}; aggregator sent {agg['sent']}; Redis: "
              f"{report.summary()}")


def _log_seconds(up, pid, first, then):
    """Seconds between the batcher's first log line matching `first` and the next one
    matching `then`, by the lines' own timestamps (NaN when one is missing)."""
    stamps = []
    for pattern in (first, then):
        rx = re.compile(r"^(\S+)Z .*rtp-batcher\[%d\] .*%s" % (pid, pattern))
        for line in up.stderr_text().splitlines():
            m = rx.search(line)
            if m and (not stamps or m.group(1) >= stamps[0]):
                stamps.append(m.group(1))
                break
    if len(stamps) != 2:
        return float("nan")
    a, b = (datetime.datetime.fromisoformat(x) for x in stamps)
    return (b - a).total_seconds()


def _sanitized(exe):
    """True when the executable was built with AddressSanitizer."""
    with open(rtptest.bin_path(exe), "rb") as f:
        return b"__asan_init" in f.read()


def _batcher_pid_count(log):
    return len(set(re.findall(r"rtp-batcher\[(\d+)\]", log)))


# ---- rtp up: the batcher SIGKILLed with a journal -------------------------------------

def test_batcher_sigkill_with_journal_under_rtp_up():
    runtime = _temp_dir("rtptest-journal-kill-")
    journal = os.path.join(runtime, "journal")
    with RedisServer() as redis:
        up = _start_up(redis, runtime)
        _wait_all_stored(redis, up, 60)
        old = _batcher_pid(up)
        redis.stop()
        up.wait_log(r"rtp-batcher\[%d\] .*Redis is away" % old, 10)
        rtptest.wait_until(lambda: _last(up, "rtp-batcher", old).get("journal_records", 0) >= 3000, 20,
                           "3000 records journaled")
        logged = _last(up, "rtp-batcher", old)
        os.kill(old, signal.SIGKILL)   # a child of the rtp up this test started
        new = rtptest.wait_until(lambda: (p := _batcher_pid(up)) and p != old and p, 20, "a new rtp-batcher")
        m = up.wait_log(r"rtp-batcher\[%d\] .*journal %s holds (\d+) records" % (new, re.escape(journal)), 10)
        recovered = int(m.group(1))
        check(recovered >= logged["journal_records"],
              f"recovered {recovered} records, the killed batcher had logged {logged['journal_records']} journaled")
        torn = re.search(r"rtp-batcher\[%d\] .*discarded (\d+) torn bytes" % new, up.stderr_text())
        # the new batcher journals behind what it recovered
        rtptest.wait_until(lambda: _last(up, "rtp-batcher", new).get("journaled", 0) > 500, 20,
                           "the new batcher journaling new records")
        redis.start()
        up.wait_log(r"rtp-batcher\[%d\] .*journal drained" % new, 60)
        _wait_all_stored(redis, up, 30)
        after = rtptest.wait_until(lambda: (s := _last(up, "rtp-batcher", new))["journal_records"] == 0 and s, 5,
                                   "the stats to show the journal empty")
        check(after["replayed"] >= recovered, f"replayed {after['replayed']} < recovered {recovered}")
        code = up.stop(timeout=60)
        check(code == 0, f"rtp up exits 0, got {code}")
        check(not _segments(journal), "journal files left")
        final = _actor_stats(up, "rtp-batcher", "final stats", new)[-1]
        check(final["records"] == final["received"] + recovered and final["held"] == 0,
              f"the new batcher wrote {final['records']} records: it received {final['received']} and recovered "
              f"{recovered}")
        report = _verify_redis(redis, "batcher SIGKILLed")
        restarts = up.stderr_text().count("restarted rtp-batcher")
        print(f"  killed the batcher with {logged['journal_records']}+ records journaled; restarted "
              f"({restarts} restart), it recovered {recovered} (torn tail: "
              f"{torn.group(1) + ' bytes' if torn else 'none'}), replayed {after['replayed']} once Redis was "
              f"back; Redis: {report.summary()}")


# ---- aggregator + batcher alone: every record distinct --------------------------------

def _bat(p):
    """The batcher's last stats line ({} before the first)."""
    lines = stats_lines(p.bat)
    return lines[-1] if lines else {}


def _journal_files_bytes(folder):
    return sum(os.path.getsize(os.path.join(folder, f)) for f in _segments(folder))


def test_redis_errors_journal_with_auth_and_db():
    records = load_records(names=("tweets-a.jsonl",), limit=500)
    first, second = records[:150], records[150:]
    d = _temp_dir("rtptest-journal-oom-")
    go = os.path.join(d, "go")
    rng = random.Random(11)
    msgs = shuffled_parts(first, rng) + [{"type": "wait_file", "path": go, "timeout_ms": 60000}] + \
        shuffled_parts(second, rng)
    p = Pipeline(msgs, dir=d, redis=RedisServer(password="j0urnal-pw").start(), db=3,
                 bat_args=["--batch-size", 20, "--retry-min-ms", 100, "--retry-max-ms", 400])
    p.wait_stored(Expected(first), 30)
    with p.client() as r:
        r.command("CONFIG", "SET", "maxmemory-policy", "noeviction")
        r.command("CONFIG", "SET", "maxmemory", "1")
    open(go, "w").close()
    p.bat.wait_log(r"Redis is away \(.*OOM.*\): journaling records to " + re.escape(p.journal_dir), 10)
    # every record reaches the batcher and the journal although Redis refuses them
    rtptest.wait_until(lambda: _bat(p).get("received") == len(records), 20,
                       "the batcher to take every record")
    rtptest.wait_until(lambda: _bat(p).get("held") == 0, 10, "everything journaled")
    during = stats_lines(p.bat)[-1]
    check(during["journal_records"] == len(second) and during["healthy"] == 1,
          f"with Redis refusing writes: {during}")
    on_disk = _journal_files_bytes(p.journal_dir)
    check(on_disk == during["journal_bytes"] > 0, f"journal files {on_disk} bytes, stats {during['journal_bytes']}")
    with p.client() as r:
        check(r.command("ZCARD", "tweets") == len(Expected(first).tweets), "a write went through during the OOM")
        r.command("CONFIG", "SET", "maxmemory", "0")
    exp = Expected(records)
    p.wait_stored(exp, 30)
    p.bat.wait_log(r"journal drained: %d records replayed" % len(second), 10)
    with p.client() as r:
        compared = check_redis(r, exp)
    with p.redis.client(db=0) as r0:
        check(r0.command("DBSIZE") == 0, "rows written outside db 3")
    log = p.bat.stderr_text() + p.bat.stdout_text()
    check("j0urnal-pw" not in log, "the password shows in the batcher's output")
    total = sum(b[0] for b in batch_lines(p.bat))
    check(total == len(records), f"{total} records written, {len(records)} sent: each written exactly once")
    rtptest.wait_until(lambda: _bat(p).get("journal_bytes") == 0, 5, "journal size 0")
    check(not _segments(p.journal_dir), "journal files left after the drain")
    failures = stats_lines(p.bat)[-1]["failed_writes"]
    codes = p.stop()
    check(codes == (0, 0), f"exit codes {codes}")
    print(f"Redis refusing writes (OOM, password, db 3): {len(second)} records journaled "
          f"({during['journal_bytes']} bytes, {during['fsyncs']} fsyncs, avg {during['fsync_avg_us']} us), "
          f"{failures} failed writes; after: all {len(records)} stored once ({compared} values compared)")


def test_sigkill_with_full_journal_and_torn_tail():
    records = load_records(names=("tweets-b.jsonl",), limit=400)
    first, second = records[:100], records[100:]
    d = _temp_dir("rtptest-journal-kill-")
    go = os.path.join(d, "go")
    rng = random.Random(12)
    msgs = shuffled_parts(first, rng) + [{"type": "wait_file", "path": go, "timeout_ms": 60000}] + \
        shuffled_parts(second, rng)
    p = Pipeline(msgs, dir=d, bat_args=["--batch-size", 25, "--retry-min-ms", 100, "--retry-max-ms", 400])
    p.wait_stored(Expected(first), 30)
    with p.client() as r:
        r.command("SAVE")   # the restarted server loads it: a real Redis keeps its data
    p.redis.stop()
    open(go, "w").close()
    p.bat.wait_log(r"Redis is away", 10)
    rtptest.wait_until(lambda: _bat(p).get("journal_records") == len(second), 20,
                       f"{len(second)} records journaled")
    rtptest.wait_until(lambda: _bat(p).get("held") == 0, 5, "nothing held in memory")
    before = stats_lines(p.bat)[-1]
    p.bat.signal(signal.SIGKILL)
    rtptest.wait_until(lambda: not p.bat.alive(), 10, "the batcher to die")
    # a torn append: the first bytes of a record that never finished
    segs = sorted(_segments(p.journal_dir))
    check(segs, "no journal files after the kill")
    torn = b"\x00\x00\x01\x00\xde\xad\xbe\xef" + bytes.fromhex(rtptest.proto_header(9)) + b"partial record"
    with open(os.path.join(p.journal_dir, segs[-1]), "ab") as f:
        f.write(torn)
    args = p.bat.args[1:]
    p.bat = rtptest.Proc("rtp-batcher", args)
    p.bat.wait_log(r"discarded %d torn bytes" % len(torn), 10)
    m = p.bat.wait_log(r"journal \S+ holds (\d+) records", 10)
    check(int(m.group(1)) == len(second), f"recovered {m.group(1)} records, {len(second)} were journaled")
    p.redis.start()
    exp = Expected(records)
    p.wait_stored(exp, 30)
    p.bat.wait_log(r"journal drained: %d records replayed" % len(second), 10)
    with p.client() as r:
        compared = check_redis(r, exp)
    st = stats_lines(p.bat)[-1]
    check(st["torn"] == 1 and st["torn_bytes"] == len(torn) and st["recovered"] == len(second), f"stats {st}")
    total = sum(b[0] for b in batch_lines(p.bat))
    check(total == len(second), f"the new batcher wrote {total} records, {len(second)} were journaled")
    codes = p.stop()
    check(codes[1] == 0, f"aggregator exit code {codes[1]}")
    print(f"SIGKILL with {before['journal_records']} records journaled ({before['journal_bytes']} bytes) and "
          f"nothing held; a torn append of {len(torn)} bytes discarded; all {len(records)} records stored "
          f"({compared} values compared)")


def test_journal_bound_stops_credit():
    records = load_records(names=("tweets-a.jsonl",), limit=500)
    first, second = records[:50], records[50:]
    d = _temp_dir("rtptest-journal-bound-")
    go = os.path.join(d, "go")
    rng = random.Random(13)
    msgs = shuffled_parts(first, rng) + [{"type": "wait_file", "path": go, "timeout_ms": 60000}] + \
        shuffled_parts(second, rng)
    bound = 64 * 1024
    p = Pipeline(msgs, dir=d, bat_args=["--batch-size", 10, "--retry-min-ms", 100, "--retry-max-ms", 300,
                                        "--journal-max-bytes", bound])
    p.wait_stored(Expected(first), 30)
    with p.client() as r:
        r.command("SAVE")
    p.redis.stop()
    open(go, "w").close()
    p.bat.wait_log(r"journal full \(\d+ of %d bytes" % bound, 20)
    rtptest.wait_until(lambda: _bat(p).get("journal_full") == 1, 10, "the journal full in the stats")
    time.sleep(0.3)   # the credit granted before it filled is used up
    stalled = stats_lines(p.bat)[-1]
    biggest = 0
    for _ in range(20):   # 2 s: nothing moves, in memory or on disk
        biggest = max(biggest, _journal_files_bytes(p.journal_dir))
        time.sleep(0.1)
    full = stats_lines(p.bat)[-1]
    check(full["journal_full"] == 1 and full["healthy"] == 0 and 0 < full["held"] <= full["window"],
          f"with the journal full: {full}")
    check(full["received"] == stalled["received"] and full["outstanding"] == 0,
          f"the batcher kept taking records with its journal full: {stalled['received']} -> {full['received']}")
    check(full["journal_bytes"] <= bound and biggest <= bound, f"journal {full['journal_bytes']} / {biggest} bytes "
          f"on disk, bound {bound}")
    check(full["received"] < len(records), "the batcher took everything: the bound did not stop the credit")
    held_agg = stats_lines(p.agg)[-1]
    check(held_agg["ready"] > 0 and held_agg["credits"] == 0, f"the aggregator holds records: {held_agg}")
    p.redis.start()
    exp = Expected(records)
    p.wait_stored(exp, 60)
    with p.client() as r:
        compared = check_redis(r, exp)
    st = stats_lines(p.bat)
    check(max(s["journal_bytes"] for s in st) <= bound, "the journal grew past its bound")
    check(max(s["max_held"] for s in st) <= st[-1]["window"], "the batcher held more than its window")
    total = sum(b[0] for b in batch_lines(p.bat))
    check(total == len(records), f"{total} records written, {len(records)} sent")
    codes = p.stop()
    check(codes == (0, 0), f"exit codes {codes}")
    print(f"journal bound {bound} bytes: full at {full['journal_bytes']} bytes ({full['journal_records']} records, "
          f"{full['journal_segments']} segments; at most {biggest} bytes on disk), batcher holding {full['held']} "
          f"(window {full['window']}), aggregator {held_agg['ready']} ready with 0 credits; all {len(records)} "
          f"stored after ({compared} values compared)")


if __name__ == "__main__":
    rtptest.main(globals())
