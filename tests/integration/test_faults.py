"""Let it crash: the system under faults, with real processes, real signals, a real
redis-server and the stand-in rtp-server.

1. kill -9 a worker of each pool mid-stream under `rtp up`: the supervisor restarts
   it, the broker declares it lost and re-dispatches its tasks, every tweet is stored
   once and right.
2. panics in the stream crash censor workers, which come back (one dead letter per
   panic); a tweet that crashes every worker (the --crash-on test hook, through
   RTP_CRASH_ON) is poison: after K crashes it is a dead letter, not stored.
3. SIGSTOP a worker: declared dead within the liveness time, its tasks re-dispatched,
   processing goes on; SIGCONT: it joins again.
4. kill -9 the broker under `rtp up`: restarted, workers and readers come back, and
   tweets read after the kill are stored within 3 s.
5. least connected: a slow worker gets clearly fewer tasks (actors started by hand).

Only processes this file started are signalled: the actors of an `rtp up` are found
as its own children (the rule of `pgrep -P PID -x NAME`, read from /proc).
Every Redis row is checked against the independent computation of rtpcheck.
"""

import datetime
import json
import os
import re
import shutil
import signal
import tempfile
import time

import rtp_reference as ref
import rtpcheck
import rtpredis
import rtptest
from rtptest import check

EXPECTED = rtpcheck.expected_from_files()
TOTAL = len(EXPECTED)
POOLS = ("censor", "sentiment", "engagement")
# The broker's defaults (rtp up passes none of them): heartbeat 500 ms x liveness 4.
LIVENESS_S = 2.0
# how late past the liveness time a silent worker may be declared dead: the broker
# checks once a heartbeat (0.5 s), plus scheduling on a busy 2-core machine, where a
# process can wait seconds for a core. Generous: this tells a liveness applied from
# one never applied (the wait for the broker's line is 20 s), not how punctual it is.
LIVENESS_MARGIN_S = 8.0

# ---- helpers -------------------------------------------------------------------

_LOG = re.compile(r"^(\S+) (DEBUG|INFO |WARN |ERROR) ([\w.-]+)\[(\d+)\] (.*)$")


def _log_time(stamp):
    """A log line's wall-clock time (UTC, ms) in seconds since the epoch."""
    when = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
    return when.replace(tzinfo=datetime.timezone.utc).timestamp()


def log_entries(text, actor=None, pid=None, pattern=None):
    """[(time, actor, pid, match)] of the log lines of actor (and pid) whose message
    matches pattern (re.search), in order."""
    regex = re.compile(pattern) if pattern else None
    out = []
    for line in text.splitlines():
        m = _LOG.match(line)
        if not m or (actor and m.group(3) != actor) or (pid and int(m.group(4)) != pid):
            continue
        hit = regex.search(m.group(5)) if regex else m
        if hit:
            out.append((_log_time(m.group(1)), m.group(3), int(m.group(4)), hit))
    return out


children = rtptest.children   # what `pgrep -P ppid -x exe` lists


def zcard(client):
    return client.command("ZCARD", "tweets")


def stored_ids(client):
    return {x.decode() for x in client.command("ZRANGE", "tweets", 0, -1)}


def verify(client, expected, label, allow_missing=False):
    """check_redis against expected; prints the problems and the counts."""
    report = rtpcheck.check_redis(client, expected, allow_missing=allow_missing)
    for p in report.problems[:20]:
        print("  problem:", p)
    check(not report.problems, f"{label}: {len(report.problems)} problems in Redis")
    print(f"  {label}: {report.summary()}")
    return report


class Up:
    """`rtp up` on a redis-server of the test, its runtime folder in a temp dir, no
    printing of tweets, a high restart limit (the faults are on purpose), and pools of
    fixed sizes (censor, sentiment, engagement), so that every restart and every lost
    worker in the log is one of our faults, not the autoscaler's doing."""

    def __init__(self, redis, *args, pools=(3, 2, 2), env=None):
        self.dir = tempfile.mkdtemp(prefix="rtpfaults-")
        self.workers = sum(pools)
        sizes = [a for pool, n in zip(POOLS, pools) for a in (f"--{pool}-workers", n)]
        self.proc = rtptest.Proc("rtp", ["up", "--redis-url", redis.url, "--runtime-dir", self.dir,
                                         "--print", "false", "--max-restarts", 1000, "--batch-size", 50,
                                         "--batch-ms", 100, *sizes, *args], env=env)
        self.pid = self.proc.pid

    def log(self):
        return self.proc.stderr_text()

    def child(self, exe, timeout=30):
        """(pid, supervisor name, worker name) of one running child of ours running
        exe: the one the supervisor calls exe#2 if there is one, else the first. The
        worker name is its --name argument (None for a process without one)."""
        def pick():
            pids = children(self.pid, exe)
            named = [(p, self.name_of(p)) for p in pids]
            named = [(p, n) for p, n in named if n]
            for p, n in named:
                if n.endswith("#2"):
                    return p, n
            return named[0] if named else None
        pid, name = rtptest.wait_until(pick, timeout, f"a running {exe} child of rtp up", interval=0.05)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().decode("utf-8", "replace").split("\0")
        wname = argv[argv.index("--name") + 1] if "--name" in argv[:-1] else None
        return pid, name, wname

    def name_of(self, pid):
        """The supervisor's name of the child with that pid (from "started NAME (pid P)")."""
        found = log_entries(self.log(), "rtp", self.pid, rf"^started (\S+) \(pid {pid}\)$")
        return found[-1][3].group(1) if found else None

    def kill(self, pid, sig):
        """Signals a process only if it is still a child of this rtp up."""
        exe = self.name_of(pid)
        check(exe is not None and pid in children(self.pid, exe.split("#")[0]),
              f"pid {pid} is a running child of our rtp up ({exe})")
        os.kill(pid, sig)

    def wait_log(self, what, timeout, **filters):
        """Waits until log_entries(**filters) is not empty; returns them."""
        def found():
            if not self.proc.alive():
                raise AssertionError(f"rtp up exited ({self.proc.popen.returncode}):\n{self.log()[-3000:]}")
            return log_entries(self.log(), **filters)
        try:
            return rtptest.wait_until(found, timeout, what, interval=0.05)
        except TimeoutError:
            print(self.log()[-4000:])
            raise

    def stop(self):
        """SIGTERM; returns the log. rtp up must exit 0 and give up on nothing."""
        code = self.proc.stop(timeout=90)
        log = self.log()
        check(code == 0, f"rtp up exits 0 on SIGTERM, got {code}:\n{log[-3000:]}")
        check("GIVING UP" not in log, "the supervisor gave up on no actor")
        return log

    def close(self):
        if self.proc.alive():
            self.proc.stop(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_stored(up, client, want, timeout, what=None):
    """Waits until ZCARD tweets reaches want (rtp up must stay alive)."""
    def done():
        if not up.proc.alive():
            raise AssertionError(f"rtp up exited ({up.proc.popen.returncode}):\n{up.log()[-3000:]}")
        return zcard(client) >= want
    try:
        rtptest.wait_until(done, timeout, what or f"{want} tweets stored", interval=0.1)
    except TimeoutError:
        print(up.log()[-5000:])
        print(f"  stored {zcard(client)} of {want}")
        raise


def lost_entries(log, pool, wname):
    return log_entries(log, "rtp-broker", None,
                       rf"^{pool} worker {re.escape(wname)} lost \(([^)]*)\) with (\d+) task\(s\) in flight")


def joined_entries(log, pool, wname, broker_pid=None):
    return log_entries(log, "rtp-broker", broker_pid, rf"^{pool} worker {re.escape(wname)} joined")


# ---- 1. kill -9 a worker of each pool ------------------------------------------------


def test_kill9_one_worker_of_each_pool():
    """Three pools of 3 workers, each kept busy (10 ms simulated work against ~470
    records/s), so a killed worker always holds tasks."""
    with rtpredis.RedisServer() as redis, redis.client() as c:
        up = Up(redis, "--replay-rate", 200, "--replay-loops", 1, "--replay-burst", "false",
                "--replay-panic-rate", 0, pools=(3, 3, 3), env={"RTP_WORK_MEAN_MS": "10"})
        try:
            wait_stored(up, c, 100, 60, "the first 100 tweets stored")
            victims = []
            for pool in POOLS:
                pid, name, wname = up.child(f"rtp-{pool}")
                at = zcard(c)
                up.kill(pid, signal.SIGKILL)
                victims.append((pool, pid, name, wname, time.time(), at))
                time.sleep(0.3)
            last = zcard(c)
            check(last < TOTAL, f"the kills landed mid-stream ({last} of {TOTAL} stored)")
            for pool, pid, name, wname, killed_at, at in victims:
                restarted = up.wait_log(f"the supervisor restarting {name}", 30, actor="rtp", pid=up.pid,
                                        pattern=rf"^restarted {re.escape(name)} \(restart \d+\)$")
                lost = up.wait_log(f"the broker losing {wname}", 30, actor="rtp-broker",
                                   pattern=rf"^{pool} worker {re.escape(wname)} lost \(([^)]*)\) "
                                           rf"with (\d+) task\(s\) in flight")
                t_lost, _, _, m = lost[0]
                in_flight = int(m.group(2))
                check(m.group(1) == "silent past its liveness", f"{wname} lost by its silence: {m.group(1)}")
                check(in_flight >= 1, f"{wname} held tasks when killed (it had {in_flight})")
                up.wait_log(f"{wname} joining again", 30, actor="rtp-broker",
                            pattern=rf"^{pool} worker {re.escape(wname)} joined")
                rejoined = rtptest.wait_until(lambda: len(joined_entries(up.log(), pool, wname)) >= 2, 30,
                                              f"{wname} joined twice")
                print(f"  killed {name} (pid {pid}) at {at} stored: restarted at +{restarted[0][0] - killed_at:.2f} s, "
                      f"lost by the broker at +{t_lost - killed_at:.2f} s with {in_flight} task(s) "
                      f"re-dispatched, joined again: {bool(rejoined)}")
            wait_stored(up, c, TOTAL, 120)
            time.sleep(0.5)
            log = up.stop()
            verify(c, EXPECTED, "after 3 kills")
            letters = rtpcheck.dead_letters(c)
            check(not letters, f"no dead letters (no panics, no poison): {letters[:3]}")
            restarts = {p: len(log_entries(log, "rtp", up.pid, rf"^restarted rtp-{p}#")) for p in POOLS}
            check(all(n == 1 for n in restarts.values()), f"one restart per pool: {restarts}")
            lost = log_entries(log, "rtp-broker", None, r"^(\w+) worker (\S+) lost \(([^)]*)\)")
            for pool, _, _, wname, _, _ in victims:
                n = sum(1 for e in lost if e[3].group(1) == pool and e[3].group(2) == wname)
                check(n == 1, f"the killed {wname} was declared lost once, not {n} times")
            victim_names = {(v[0], v[3]) for v in victims}
            others = [e for e in lost if (e[3].group(1), e[3].group(2)) not in victim_names]
            if others:
                # Not the killed ones: the heartbeat detector's false positives, which
                # only a stall of the broker or of the whole machine past the liveness
                # time makes. The system copes (they announce themselves again, and
                # every row was checked above), but say so loudly.
                print(f"  WARNING: {len(others)} live worker(s) were declared lost too (a stall of the broker or "
                      f"the machine?):")
                for line in log.splitlines():
                    if " lost (" in line or "the broker is silent" in line or "does not know us" in line:
                        print("   ", line[:200])
            print(f"  {TOTAL} tweets stored once and right; restarts {restarts}; workers lost {len(lost)} "
                  f"(3 killed, {len(others)} others)")
        finally:
            up.close()


# ---- 2. panics and a poison tweet -----------------------------------------------------


def pick_poison_text():
    """(tweet id, text) of a tweet in the second half of tweets-a.jsonl (not a retweet,
    its id in no other record) and a piece of its text found in no other record of
    either file: the --crash-on text that makes exactly that tweet poison."""
    records = []
    for name in ("tweets-a.jsonl", "tweets-b.jsonl"):
        with open(rtptest.data_path(name), encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    tweet = json.loads(line)
                    records.extend((name, tweet, rec) for rec in ref.records_of(tweet))
    ids = [rec["id"] for _, _, rec in records]
    candidates = [(tweet, rec) for name, tweet, rec in records
                  if name == "tweets-a.jsonl" and "retweeted_status" not in tweet and ids.count(rec["id"]) == 1]
    for tweet, rec in candidates[len(candidates) // 2:]:
        text = rec["text"]
        for size in (16, 20, 24):
            for start in range(0, max(0, len(text) - size)):
                piece = text[start:start + size]
                if not all(ch.isascii() and (ch.isalnum() or ch == " ") for ch in piece) or piece != piece.strip():
                    continue
                if sum(piece in r["text"] for _, _, r in records) == 1:
                    return rec["id"], piece
    raise AssertionError("no tweet text with a unique piece found in the data")


def test_panics_restart_workers_and_poison_goes_to_dead_letters():
    poison_id, crash_on = pick_poison_text()
    k = 3
    expected = {tid: v for tid, v in EXPECTED.items() if tid != poison_id}
    print(f"  poison: tweet {poison_id}, --crash-on {crash_on!r}, K = {k}")
    with rtpredis.RedisServer() as redis, redis.client() as c:
        up = Up(redis, "--replay-rate", 200, "--replay-loops", 1, "--replay-burst", "false",
                "--replay-panic-rate", 0.01, "--work-mean-ms", 2,
                env={"RTP_CRASH_ON": crash_on, "RTP_MAX_CRASHES": str(k)})
        try:
            def crashes(pool, why):
                return len(log_entries(up.log(), f"rtp-{pool}", None, why))

            def settled():
                if not up.proc.alive():
                    raise AssertionError(f"rtp up exited:\n{up.log()[-3000:]}")
                log = up.log()
                letters = rtpcheck.dead_letters(c)
                panics = len(log_entries(log, "rtp-censor", None, r"^received a panic message"))
                forwarded = len(log_entries(log, "rtp-reader", None, r"^panic event forwarded"))
                poison = [d for d in letters if d["reason"].startswith("poison:")]
                restarts_ok = all(
                    len(log_entries(log, "rtp", up.pid, rf"^restarted rtp-{p}#")) ==
                    crashes(p, r"^(received a panic message|a tweet contains the --crash-on text)") for p in POOLS)
                return (poison and zcard(c) >= len(expected) and forwarded > 0 and panics == forwarded and
                        sum(d["reason"].startswith("panic") for d in letters) == panics and restarts_ok)
            try:
                rtptest.wait_until(settled, 150, "every tweet stored, every panic and the poison dead-lettered, "
                                   "every crashed worker restarted", interval=0.2)
            except TimeoutError:
                print(up.log()[-5000:])
                print(f"  stored {zcard(c)}, dead letters {[d['reason'] for d in rtpcheck.dead_letters(c)]}")
                raise
            time.sleep(0.5)
            log = up.stop()
            verify(c, expected, f"all but the poison tweet {poison_id}")
            check(c.command("EXISTS", f"tweet:{poison_id}") == 0, "the poison tweet is not stored")
            letters = rtpcheck.dead_letters(c)
            panic_letters = [d for d in letters if d["reason"].startswith("panic:")]
            poison = [d for d in letters if d["reason"].startswith("poison:")]
            others = [d for d in letters if d not in panic_letters and d not in poison]
            forwarded = len(log_entries(log, "rtp-reader", None, r"^panic event forwarded"))
            panic_crashes = len(log_entries(log, "rtp-censor", None, r"^received a panic message"))
            restarts = {p: len(log_entries(log, "rtp", up.pid, rf"^restarted rtp-{p}#")) for p in POOLS}
            poison_crashes = {p: len(log_entries(log, f"rtp-{p}", None, r"^a tweet contains the --crash-on text"))
                              for p in POOLS}
            check(not others, f"no other dead letters: {others[:3]}")
            check(panic_crashes > 0 and panic_crashes == forwarded == len(panic_letters),
                  f"every panic crashed one censor worker and is one dead letter: {forwarded} forwarded, "
                  f"{panic_crashes} crashes, {len(panic_letters)} dead letters")
            check(restarts["censor"] == panic_crashes + poison_crashes["censor"],
                  f"every crashed censor worker came back: {restarts['censor']} restarts, {panic_crashes} panics "
                  f"+ {poison_crashes['censor']} poison crashes")
            for p in ("sentiment", "engagement"):
                check(restarts[p] == poison_crashes[p], f"{p}: {restarts[p]} restarts, {poison_crashes[p]} crashes")
            check(len(poison) == 1, f"exactly one poison dead letter, got {len(poison)}")
            m = re.match(r"^poison: tweet (\d+) was being processed by (\d+) lost (\w+) workers$", poison[0]["reason"])
            check(m is not None, f"the poison reason names the tweet, the count and the pool: {poison[0]['reason']}")
            check(m.group(1) == poison_id, f"the poison is tweet {poison_id}, not {m.group(1)}")
            check(int(m.group(2)) == k, f"poison after K = {k} crashes, not {m.group(2)}")
            # Every crashed worker counts (a speculative copy too), and a task that has
            # crashed a worker is not copied again: the pool that reached K crashed
            # exactly K workers on it, the others fewer.
            pool = m.group(3)
            check(poison_crashes[pool] == k, f"the {pool} pool crashed exactly K = {k} workers on it: {poison_crashes}")
            check(all(n <= k for n in poison_crashes.values()),
                  f"no pool crashed more than K workers on it: {poison_crashes}")
            check(crash_on in poison[0]["data"], "the dead letter carries the poison tweet's text")
            print(f"  panics: {forwarded} forwarded, {panic_crashes} censor crashes, {len(panic_letters)} dead letters; "
                  f"poison crashes per pool {poison_crashes} (K reached in {m.group(3)}); restarts {restarts}; "
                  f"{len(expected)} tweets stored right")
        finally:
            up.close()


# ---- 3. SIGSTOP / SIGCONT a worker --------------------------------------------------


def test_sigstop_worker_declared_dead_then_rejoins_on_sigcont():
    with rtpredis.RedisServer() as redis, redis.client() as c:
        up = Up(redis, "--replay-rate", 100, "--replay-loops", 1, "--replay-burst", "false",
                "--replay-panic-rate", 0, "--work-mean-ms", 5)
        pid = None
        try:
            wait_stored(up, c, 100, 60, "the first 100 tweets stored")
            pid, name, wname = up.child("rtp-censor")
            stopped_at = time.time()
            up.kill(pid, signal.SIGSTOP)
            at_stop = zcard(c)
            lost = up.wait_log(f"the broker losing the stopped {wname}", 20, actor="rtp-broker",
                               pattern=rf"^censor worker {re.escape(wname)} lost \(([^)]*)\) with (\d+) task\(s\)")
            at_lost = zcard(c)
            t_lost, _, _, m = lost[0]
            took = t_lost - stopped_at
            in_flight = int(m.group(2))
            check(m.group(1) == "silent past its liveness", f"lost by its silence, not {m.group(1)!r}")
            # the broker checks every heartbeat (0.5 s); its last message came at most a heartbeat before the stop
            check(LIVENESS_S - 0.6 <= took <= LIVENESS_S + LIVENESS_MARGIN_S,
                  f"declared dead within the liveness time ({LIVENESS_S} s + {LIVENESS_MARGIN_S} s margin): "
                  f"after {took:.2f} s")
            check(in_flight >= 1, f"the stopped worker held tasks that were re-dispatched: {in_flight}")
            time.sleep(1.0)
            at_cont = zcard(c)
            check(at_cont > at_stop, f"processing went on while {wname} was stopped: {at_stop} -> {at_cont}")
            cont_at = time.time()
            os.kill(pid, signal.SIGCONT)
            pid_stopped, pid = pid, None
            came_back = up.wait_log(f"{wname} noticing the broker forgot it", 20, actor="rtp-censor",
                                    pid=pid_stopped,
                                    pattern=r"^(the broker is silent|the broker does not know us)")
            rejoined = rtptest.wait_until(
                lambda: [e for e in joined_entries(up.log(), "censor", wname) if e[0] >= cont_at - 0.05], 20,
                f"{wname} joining again after SIGCONT")
            wait_stored(up, c, TOTAL, 120)
            time.sleep(0.5)
            log = up.stop()
            verify(c, EXPECTED, "after SIGSTOP/SIGCONT")
            check(not rtpcheck.dead_letters(c), "no dead letters")
            check(not log_entries(log, "rtp", up.pid, rf"^restarted {re.escape(name)} "),
                  f"{name} was not restarted: it was stopped, not dead")
            print(f"  SIGSTOP {name} (pid {pid_stopped}) at {at_stop} stored; lost after {took:.2f} s with "
                  f"{in_flight} task(s) re-dispatched; {at_lost} stored then, {at_cont} at SIGCONT; "
                  f"the worker said {came_back[0][3].group(1)!r} at {came_back[0][0] - cont_at:+.2f} s and joined "
                  f"again at {rejoined[0][0] - cont_at:+.2f} s from SIGCONT")
        finally:
            if pid is not None:
                os.kill(pid, signal.SIGCONT)   # never leave our stopped child behind
            up.close()


# ---- 4. kill -9 the broker -----------------------------------------------------------


def _record_positions():
    """{tweet id: [(stream number, event index), ...]}: where each record is in the
    replayed streams (no panics, so the event index is the line)."""
    positions = {}
    for stream, name in ((1, "tweets-a.jsonl"), (2, "tweets-b.jsonl")):
        with open(rtptest.data_path(name), encoding="utf-8") as f:
            lines = [line for line in f if line.strip()]
        for index, line in enumerate(lines):
            for tid in rtptest.tweet_record_ids(json.loads(line)):
                positions.setdefault(tid, []).append((stream, index))
    return positions


def test_kill9_broker_processing_resumes():
    rate = 80   # about 6.5 s of stream: the kill lands early, several seconds of tweets follow it
    positions = _record_positions()
    with rtpredis.RedisServer() as redis, redis.client() as c:
        up = Up(redis, "--replay-rate", rate, "--replay-loops", 1, "--replay-burst", "false",
                "--replay-panic-rate", 0, "--work-mean-ms", 2)
        try:
            wait_stored(up, c, 50, 60, "the first 50 tweets stored")
            connected = {}
            for stream in (1, 2):
                found = log_entries(up.log(), "rtp-reader", None, rf"^connected to \S+/tweets/{stream}: HTTP 200")
                check(found, f"the reader of /tweets/{stream} logged its connection")
                connected[stream] = found[0][0]
            # The stand-in paces each stream: event i is handed out no earlier than
            # i/rate after the first (less the bucket, rate x 0.02 s): a tweet whose
            # every copy comes later than the kill by that rule was read after it.
            def earliest(tid):
                return min(connected[s] - 0.1 + (i - max(1.0, rate * 0.02)) / rate for s, i in positions[tid])

            pid, name, _ = up.child("rtp-broker")
            before = stored_ids(c)
            killed_at = time.time()
            up.kill(pid, signal.SIGKILL)
            late = {tid for tid in EXPECTED if earliest(tid) > killed_at}
            check(len(late) >= 100, f"the kill landed mid-stream: {len(late)} tweets still to be read")
            first_growth = resumed = None
            while resumed is None and time.time() - killed_at < 30:
                ids = stored_ids(c)
                now = time.time()
                if first_growth is None and len(ids) > len(before):
                    first_growth = now - killed_at
                if ids & late:
                    resumed = now - killed_at
                time.sleep(0.02)
            check(resumed is not None, "tweets read after the broker's kill were stored within 30 s")
            restarted = up.wait_log("the broker restarted", 10, actor="rtp", pid=up.pid,
                                    pattern=r"^restarted rtp-broker \(restart 1\)$")
            new_broker, _, _ = up.child("rtp-broker")
            check(new_broker != pid, "a new broker process runs")
            workers = up.workers

            def joined_new():
                found = log_entries(up.log(), "rtp-broker", new_broker, r"^\w+ worker \S+ joined")
                return found if len(found) >= workers else None
            rejoined = rtptest.wait_until(joined_new, 10, f"all {workers} workers joined the new broker")
            # the rest of the stream: until nothing more arrives
            stream_end = max(earliest(t) for t in EXPECTED) + 1.0
            last, quiet_since = zcard(c), time.time()
            deadline = rtptest.Deadline(120)
            while time.time() < stream_end or time.time() - quiet_since < 2.0:
                deadline.check("the stream ending and the store going quiet")
                time.sleep(0.2)
                n = zcard(c)
                if n != last:
                    last, quiet_since = n, time.time()
            log = up.stop()
            report = verify(c, EXPECTED, "after the broker's kill (missing allowed)", allow_missing=True)
            after = stored_ids(c)
            well_after = {t for t in late if earliest(t) > killed_at + 3.0}
            check(well_after and well_after <= after,
                  f"every tweet read 3 s or more after the kill is stored: {len(well_after & after)} of "
                  f"{len(well_after)}")
            lost = report.counts.get("missing", 0)
            print(f"  broker killed at {len(before)} stored; supervisor restarted it "
                  f"+{restarted[0][0] - killed_at:.2f} s; {len(rejoined)} workers joined the new broker; "
                  f"ZCARD grew again +{first_growth:.2f} s (the drain of what had passed the broker), "
                  f"first tweet read after the kill stored +{resumed:.2f} s; {len(after)} of {TOTAL} stored at the end, "
                  f"{lost} lost (in flight at the kill), {len(well_after)} read 3+ s after the kill all stored")
            check("restarted rtp-broker" in log, "the supervisor logged the broker's restart")
        finally:
            up.close()


# ---- 5. least connected -------------------------------------------------------------


def test_least_connected_slow_worker_gets_fewer_tasks():
    with rtpredis.RedisServer() as redis, redis.client() as c:
        d = tempfile.mkdtemp(prefix="rtpfaults-lc-")
        procs = []
        try:
            ep = {n: f"ipc://{d}/{n}.ipc" for n in ("readers", "workers", "results", "hashtags", "batcher",
                                                    "control")}
            replay = rtptest.start_replay("--rate", 200, "--burst", "false", "--loops", 1, "--panic-rate", 0)
            procs.append(replay)
            # Speculative copies off: each task goes to exactly one worker, so the
            # counts are the least-connected choice alone. Fixed pools (no managers).
            broker = rtptest.Proc("rtp-broker", ["--readers", ep["readers"], "--workers", ep["workers"],
                                                 "--results", ep["results"], "--hashtags", ep["hashtags"],
                                                 "--control", ep["control"], "--speculative-censor", 1])
            aggregator = rtptest.Proc("rtp-aggregator", ["--results", ep["results"], "--bind", ep["batcher"]])
            batcher = rtptest.Proc("rtp-batcher", ["--aggregator", ep["batcher"], "--redis-url", redis.url,
                                                   "--batch-size", 50, "--batch-ms", 50, "--broker", ep["readers"]])
            procs += [broker, aggregator, batcher]
            censors = {}
            for wname, work in (("censor-slow", 50), ("censor-fast-1", 2), ("censor-fast-2", 2)):
                censors[wname] = rtptest.Proc("rtp-censor", ["--broker", ep["workers"], "--name", wname,
                                                             "--work-mean-ms", work, "--print", "false"])
            others = [rtptest.Proc("rtp-sentiment", ["--broker", ep["workers"], "--name", f"sentiment-{i}",
                                                     "--emotion-url", f"{replay.url}/emotion_values"])
                      for i in (1, 2)]
            others += [rtptest.Proc("rtp-engagement", ["--broker", ep["workers"], "--name", f"engagement-{i}"])
                       for i in (1, 2)]
            workers = list(censors.values()) + others
            procs += workers
            rtptest.wait_until(lambda: broker.stderr_text().count(" joined (capacity") >= len(workers), 30,
                               "every worker joined the broker")
            readers = [rtptest.Proc("rtp-reader", ["--url", f"{replay.url}/tweets/{i}", "--broker", ep["readers"]])
                       for i in (1, 2)]
            procs += readers

            def stored():
                dead = [p.name for p in procs if not p.alive()]
                if dead:
                    raise AssertionError(f"exited early: {dead}")
                return zcard(c) >= TOTAL
            rtptest.wait_until(stored, 120, f"{TOTAL} tweets stored", interval=0.1)
            time.sleep(0.3)
            # stop in the order data flows, so each stage drains into the next
            for group in (readers, [broker], workers, [aggregator], [batcher]):
                for p in group:
                    p.signal(signal.SIGTERM)
                for p in group:
                    code = p.stop(timeout=30)
                    check(code == 0, f"{p.name} exits 0 on SIGTERM, got {code}: {p.stderr_text()[-1500:]}")
            verify(c, EXPECTED, "least connected run")
            done = {}
            for wname, p in censors.items():
                m = re.search(r"stopped: done (\d+), cancelled (\d+)", p.stderr_text())
                check(m is not None, f"{wname} logged its counts at exit")
                done[wname] = int(m.group(1))
            tasks = re.findall(r"events \d+ \(tweets (\d+),", broker.stderr_text())
            check(tasks, "the broker logged its final counts")
            check(sum(done.values()) == int(tasks[-1]),
                  f"each of the broker's {tasks[-1]} tweets was done once in the censor pool: {done}")
            fast_mean = (done["censor-fast-1"] + done["censor-fast-2"]) / 2
            print(f"  censor tasks done per worker: {done} (slow {done['censor-slow']}, fast mean {fast_mean:.0f}, "
                  f"ratio {done['censor-slow'] / fast_mean:.3f})")
            check(done["censor-slow"] < 0.5 * fast_mean,
                  f"the slow worker got clearly fewer tasks than the others: {done}")
            check(done["censor-slow"] > 0, "the slow worker got some tasks")
        finally:
            for p in reversed(procs):
                p.stop(timeout=5)
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    rtptest.main(globals())
