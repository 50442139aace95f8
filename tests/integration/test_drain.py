"""Stopping and restarting `rtp up` loses nothing (issue 15): the bounded drain, the
readers' spools, and the state folder (spools, journal, the private Redis's
append-only file) that the same command in the same place resumes from. The stream
is the stand-in rtp-replay with one pass over the bundled data (--loops 1), started
here so that a restarted `rtp up` reads on where the last run stopped (the server
keeps one cursor per stream) and gets nothing twice; Redis is the private one `rtp up`
starts in its state folder; every row is checked against rtpcheck's computation.

- a burst into a slow censor pool, SIGINT while it is far behind, and a drain bound too
  short to finish, or a second SIGINT: `rtp up` says what it waits for, the readers'
  spools keep the rest, and the same command again stores every row; meanwhile a
  third `rtp up` on the same state folder is refused with a clear message
- a reader SIGKILLed mid-stream: every record in its spool at that moment (what it
  had taken and not seen stored) is stored after its restart
- `rtp up` and all its children SIGKILLed mid-stream: what Redis had stored is still
  there at the restart, and every record in the readers' spools is stored after it
- `rtp up` alone SIGKILLed and started again at once: the new run waits for the old
  processes if needed, and its readers send every record the old ones kept
"""
import os
import re
import signal
import tempfile
import time

import rtpcheck
import rtpredis
import rtptest
from rtpspool import event_tweet_id, read_spool
from rtptest import check

EXPECTED = rtpcheck.expected_from_files()


def start_up(state, replay, *extra, env=None):
    args = ["up", "--state-dir", state, "--rtp-url", replay.url, "--print", "false", "--status-ms", 0,
            "--sentiment-workers", 1, "--engagement-workers", 1, *extra]
    return rtptest.Proc("rtp", args, env=env)


def start_flowing(prefix, min_stored):
    """A state folder, a replay at 150 events/s per stream (one pass), and `rtp up` on a
    slow censor pool, once min_stored tweets are stored: (state, replay, slow, up)."""
    state = os.path.join(tempfile.mkdtemp(prefix=prefix), "state")
    replay = rtptest.start_replay("--loops", 1, "--rate", 150, "--burst", "false", "--panic-rate", 0)
    slow = ["--censor-workers", 1, "--work-mean-ms", 8]
    up = start_up(state, replay, *slow)
    with redis_of(up) as c:
        rtptest.wait_until(lambda: stored(c) > min_stored, 60, "the first tweets stored")
    return state, replay, slow, up


def redis_of(up):
    """A client of the private redis-server this `rtp up` started."""
    port = int(up.wait_log(r"private redis-server: redis://127\.0\.0\.1:(\d+)", 60).group(1))
    return rtpredis.RedisClient(port=port)


def stored(client):
    return client.command("ZCARD", "tweets")


def wait_all_stored(client, up, timeout=180):
    """Waits until every expected tweet is stored (or `rtp up` died), then checks
    every row."""
    rtptest.wait_until(lambda: stored(client) >= len(EXPECTED) or not up.alive(), timeout,
                       "every tweet stored", interval=0.3)
    report = rtpcheck.check_redis(client, EXPECTED)
    for p in report.problems[:10]:
        print("  problem:", p)
    return report


def stored_ids(client):
    return {k[len("tweet:"):] for k in map(rtpcheck._s, client.command("KEYS", "tweet:*"))}


def wait_settled(client, kept, timeout=180):
    """Waits until every tweet of `kept` is stored and then nothing new arrives for
    3 s (the rest of the stream processed); returns the ids stored."""
    last = [None, time.monotonic()]

    def settled():
        ids = stored_ids(client)
        if len(ids) != last[0]:
            last[:] = [len(ids), time.monotonic()]
        return kept <= ids and (len(ids) >= len(EXPECTED) or time.monotonic() - last[1] > 3)

    rtptest.wait_until(settled, timeout, "every spooled tweet stored, the rest processed", interval=0.5)
    return stored_ids(client)


def spooled_ids(state):
    """The tweet ids of the records in the readers' spool files now."""
    ids = set()
    folder = os.path.join(state, "spool")
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        if name.endswith(".spool"):
            ids.update(event_tweet_id(e) for _, e in read_spool(os.path.join(folder, name))[0])
    ids.discard("")
    return ids


def _stop_far_behind_then_restart(second_signal):
    """A burst, then SIGINT while far behind; the drain ends by its bound (1.5 s) or
    by a second SIGINT; the same command again stores every row."""
    state = os.path.join(tempfile.mkdtemp(prefix="rtptest-drain-"), "state")
    replay = rtptest.start_replay("--loops", 1, "--rate", 0, "--burst", "false", "--panic-rate", 0)
    # one censor worker at 10 ms a tweet: ~100 tweets/s for the whole burst
    slow = ["--censor-workers", 1, "--work-mean-ms", 10]
    up = start_up(state, replay, *slow, "--drain-ms", 60000 if second_signal else 1500)
    up.wait_log(r"state folder: %s " % re.escape(os.path.realpath(state)), 30)
    with redis_of(up) as c:
        rtptest.wait_until(lambda: stored(c) > 50, 60, "the first tweets stored")
        before = stored(c)
    up.signal(signal.SIGINT)
    up.wait_log(r"draining: [\d,]+ events in flight, [\d,]+/s stored; \d readers? waiting", 60)
    if second_signal:
        up.signal(signal.SIGINT)
        up.wait_log(r"second signal: stopping at once", 30)
    check(up.popen.wait(120) == 0, "the first run exits 0")
    log = up.stderr_text()
    check("drain ended after" in log and "the readers' spools keep them" in log,
          "the drain ends early, the spools keep the rest")
    check(before < len(EXPECTED), f"it was far behind at the SIGINT: {before} of {len(EXPECTED)} stored")
    kept = spooled_ids(state)
    print(f"  SIGINT with {before} of {len(EXPECTED)} tweets stored; {len(kept)} tweets left in the spools")
    check(kept, "the spools hold what was not stored")

    again = start_up(state, replay, *slow)
    again.wait_log(r"records taken by the last run and not acknowledged: sending them again first", 60)
    other = start_up(state, replay, *slow)
    check(other.popen.wait(60) == 1, "a second rtp up on the same state folder is refused")
    check(re.search(r"the state folder \S+ is in use by another rtp up \(pid %d\); stop it, or give this one its "
                    r"own folder with --state-dir DIR or RTP_STATE_DIR" % again.pid, other.stderr_text()),
          f"and says why: {other.stderr_text()[-300:]}")
    with redis_of(again) as c:
        check(stored(c) >= before, f"the rows of the first run are still there: {stored(c)} >= {before}")
        report = wait_all_stored(c, again)
    check(again.stop(timeout=120) == 0, "the second run exits 0")
    replay.stop()
    print(f"  after the restart: {report.summary()}")
    check(not report.problems, "every row stored, and right")


def test_sigint_far_behind_drain_bound_then_restart_stores_every_row():
    _stop_far_behind_then_restart(second_signal=False)


def test_second_sigint_stops_at_once_then_restart_stores_every_row():
    _stop_far_behind_then_restart(second_signal=True)


def test_reader_sigkilled_mid_stream_its_spool_is_stored():
    state, replay, _, up = start_flowing("rtptest-drain-kill-reader-", 50)
    with redis_of(up) as c:
        # hold the supervisor for a moment, so the spool is read before a new reader opens it
        up.signal(signal.SIGSTOP)
        try:
            victim = rtptest.children(up.pid, "rtp-reader")[0]
            os.kill(victim, signal.SIGKILL)
            rtptest.wait_until(lambda: not os.path.exists(f"/proc/{victim}/stat") or
                               open(f"/proc/{victim}/stat").read().split(") ")[1][0] == "Z", 10, "the reader dead")
            kept = spooled_ids(state)
        finally:
            up.signal(signal.SIGCONT)
        up.wait_log(r"restarted rtp-reader#\d", 30)
        ids = wait_settled(c, kept)
        report = rtpcheck.check_redis(c, EXPECTED, allow_missing=True)
    check(up.stop(timeout=120) == 0, "rtp up exits 0")
    replay.stop()
    missing = report.counts.get("missing", 0)
    print(f"  {len(kept)} tweets in the killed reader's spools, all stored; {missing} never taken (in the dead "
          f"connection's buffers); {report.summary()}")
    check(kept and kept <= ids, "every record the readers held is stored")
    check(not report.problems, f"no wrong rows: {report.problems[:5]}")


def test_rtp_up_and_all_children_sigkilled_then_restart():
    state, replay, slow, up = start_flowing("rtptest-drain-kill-all-", 100)
    with redis_of(up) as c:
        up.signal(signal.SIGSTOP)
        family = _descendants(up.pid)
        before = stored(c)
    for pid in family + [up.pid]:
        os.kill(pid, signal.SIGKILL)
    up.stop()
    for pid in family:
        rtptest.wait_until(lambda: not _alive(pid), 10, f"pid {pid} gone")
    kept = spooled_ids(state)
    print(f"  killed rtp up and {len(family)} children with {before} tweets stored, {len(kept)} in the spools")
    again = start_up(state, replay, *slow)
    with redis_of(again) as c:
        after_restart = stored(c)
        check(after_restart >= before, f"Redis kept what it had stored: {after_restart} >= {before}")
        ids = wait_settled(c, kept)
        report = rtpcheck.check_redis(c, EXPECTED, allow_missing=True)
    check(again.stop(timeout=120) == 0, "the restarted rtp up exits 0")
    replay.stop()
    print(f"  after the restart: {report.summary()}")
    check(kept and kept <= ids, "the spools held records at the kill, and every one is stored")
    check(not report.problems, f"no wrong rows: {report.problems[:5]}")


def test_rtp_up_alone_sigkilled_then_restart_at_once():
    """Only `rtp up` SIGKILLed: its children get SIGTERM from the kernel and stop on their
    own (the readers without waiting for acknowledgements nobody can pass on, keeping
    them in their spools); the same command at once waits for them if they still hold the
    state folder, then sends every record they kept."""
    state, replay, slow, up = start_flowing("rtptest-drain-kill-up-", 100)
    up.signal(signal.SIGKILL)
    up.stop()
    again = start_up(state, replay, *slow)
    # what each old reader left in its spool, as it said at exit (its log is rtp up's)
    kept = rtptest.wait_until(
        lambda: [int(n) for n in re.findall(r"rtp-reader\[\d+\] (\d+) records not acknowledged stay in the spool",
                                            up.stderr_text())] if up.stderr_text().count("final stats") >= 2
        else None, 60, "the old readers gone")
    spool_lines = r"rtp-reader\[\d+\] spool \S+: (\d+ records taken by the last run|empty)"
    rtptest.wait_until(lambda: len(re.findall(spool_lines, again.stderr_text())) >= 2, 90, "the new readers started")
    resent = [int(n) for n in re.findall(r"rtp-reader\[\d+\] spool \S+: (\d+) records taken by the last run",
                                         again.stderr_text())]
    waited = "waiting for the processes of the last run" in again.stderr_text()
    with redis_of(again) as c:
        wait_settled(c, set())
        report = rtpcheck.check_redis(c, EXPECTED, allow_missing=True)
    check(again.stop(timeout=120) == 0, "the restarted rtp up exits 0")
    replay.stop()
    print(f"  old readers kept {kept}; the new ones resent {resent}; the restart "
          f"{'waited for the old processes' if waited else 'found the folder free'}; {report.summary()}")
    check(sum(kept) > 0 and sorted(kept) == sorted(resent), "every record the old readers kept is sent again")
    check(not report.problems, f"no wrong rows: {report.problems[:5]}")


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(") ", 1)[1][0] not in "ZX"
    except OSError:
        return False


def _descendants(pid):
    """Every live descendant of pid (children first)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                        stat = f.read()
                except OSError:
                    continue
                if int(stat.rsplit(") ", 1)[1].split()[1]) == parent:
                    found.append(int(entry))
                    todo.append(int(entry))
    return found


if __name__ == "__main__":
    rtptest.main(globals())
