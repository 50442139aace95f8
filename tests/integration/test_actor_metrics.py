"""The readers' and the batcher's /metrics under `rtp up`, against what really
happened.

One end-to-end run: this test's own rtp-replay (both bundled files once, panics mixed
in, every 100th event cut off mid-way with --drop-every, so each cut is one
reconnect), rtp up reading it with a redis-server of the test. Mid-stream the test
SIGKILLs its replay server and starts it again on the same port (the files are
served again from the start: the same tweets a second time). The metrics URLs come
from the run info rtp up writes. Scraped during the run (kinds, counters moving,
histogram consistent) and at the end, once nothing moves, the counters must agree
with:
- Redis: tweets stored == ZCARD tweets; dead letters == LLEN deadletter; panic dead
  letters == panics the readers read;
- each other: the readers' records (+ resent) == the batcher's records written; every
  record acknowledged, windows empty; events == tweets + panics + malformed;
  records == tweets + retweets + panics + malformed; batches == the write-time
  histogram's count;
- the faults: each stream's connections == 1 + the cuts the replay servers logged
  for its path + 1 for the restart, and its reconnects count them all;
- the batcher's end-to-end latency histogram: one observation per tweet written;
- the batcher's stdout: its summary lines sum to every record written, at most about
  2 lines a second (--print-per-second's default);
- the aggregator: what it sent == what the batcher received, nothing held at the end;
- the docs: every metric served is in docs/rtp-reader.md or docs/rtp-batcher.md;
- rtp top (full screen, in tmux) shows the batcher's line with a live record rate
  and write times, found through the run info.
"""

import json
import os
import re
import shutil
import signal
import tempfile
import time
import urllib.error
import urllib.request

import rtpcheck
import rtpredis
import rtptest
from rtptest import check

from test_metrics import Metrics, parse_metrics  # noqa: F401  (one parser for both tests)
from test_top import Tmux

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPECTED = rtpcheck.expected_from_files()
TOTAL = len(EXPECTED)
STREAMS = {"tweets-1": "/tweets/1", "tweets-2": "/tweets/2"}


def _lines(name):
    with open(rtptest.data_path(name), encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


LINES = {"tweets-1": _lines("tweets-a.jsonl"), "tweets-2": _lines("tweets-b.jsonl")}
REPLAY_ARGS = ["--rate", 100, "--loops", 1, "--panic-rate", 0.02, "--burst", "false", "--drop-every", 100,
               "--seed", 5]
BATCH_LINE = re.compile(r"^batch \d+: (\d+) records: (\d+) new tweets, (\d+) already stored, (\d+) dead letters; ")


def _scrape(url):
    try:
        return Metrics(url).scrape()
    except (urllib.error.URLError, ConnectionError, OSError):
        return None


def _cuts(replay_log, path):
    """The connections of a path the replay server cut (one log line each)."""
    return len(re.findall(rf": cutting {re.escape(path)} after \d+ bytes of event \d+ \(--drop-every\)$",
                          replay_log, re.M))


def _replay_on(port):
    """rtp-replay on this port (the restart takes the port the first one had)."""
    p = rtptest.Proc("rtp-replay", ["--port", port, *REPLAY_ARGS])
    p.wait_line(r"^listening on http://", 10)
    return p


def test_reader_and_batcher_metrics_agree_with_redis_and_faults():
    runtime_dir = tempfile.mkdtemp(prefix="rtpactormetrics-")
    xdg = tempfile.mkdtemp(prefix="rtpactormetrics-xdg-")
    replays = []
    try:
        with rtpredis.RedisServer() as redis, redis.client() as c:
            first = rtptest.start_replay(*REPLAY_ARGS)
            replays.append(first)
            up = rtptest.Proc("rtp", ["up", "--redis-url", redis.url, "--rtp-url", first.url, "--runtime-dir",
                                      runtime_dir, "--print", "false", "--censor-workers", 2,
                                      "--sentiment-workers", 1, "--engagement-workers", 1, "--batch-size", 20,
                                      "--batch-ms", 50],
                              env={"XDG_RUNTIME_DIR": xdg, "RTP_WORK_MEAN_MS": "1"})
            started = time.time()
            path = os.path.join(runtime_dir, "rtp-up.json")
            rtptest.wait_until(lambda: os.path.exists(path) or not up.alive(), 30, "rtp-up.json written")
            check(up.alive(), f"rtp up runs:\n{up.stderr_text()[-3000:]}")
            with open(path, encoding="utf-8") as f:
                info = json.load(f)
            bat_url = info.get("batcher_metrics")
            reader_urls = info.get("reader_metrics", {})
            agg_url = info.get("aggregator_metrics")
            urls = [info.get("broker_metrics"), bat_url, agg_url, *reader_urls.values()]
            check(set(reader_urls) == set(STREAMS), f"a metrics URL per reader: {reader_urls}")
            check(all(u and re.fullmatch(r"http://127\.0\.0\.1:\d+/metrics", u) for u in urls),
                  f"metrics URLs: {urls}")
            check(len(set(urls)) == 5, f"five distinct ports: {urls}")
            rtptest.wait_until(lambda: all(u in up.stderr_text() for u in urls), 10, "rtp up logging the URLs")

            # during the run
            rtptest.wait_until(lambda: c.command("ZCARD", "tweets") >= 100 or not up.alive(), 60,
                               "the first 100 tweets stored")
            check(up.alive(), "rtp up runs")
            bat = rtptest.wait_until(lambda: _scrape(bat_url), 10, "the batcher's /metrics")
            rd = {s: rtptest.wait_until(lambda u=u: _scrape(u), 10, f"{s}'s /metrics") for s, u in reader_urls.items()}
            check(bat.status == 200 and bat.content_type.startswith("text/plain; version=0.0.4"),
                  f"200 text/plain; version=0.0.4: {bat.status} {bat.content_type}")
            kinds = {"rtp_batcher_records_total": "counter", "rtp_batcher_redis_write_seconds": "histogram",
                     "rtp_batcher_journal_bytes": "gauge", "rtp_batcher_redis_up": "gauge"}
            for name, kind in kinds.items():
                check(bat.types.get(name) == kind, f"{name} is a {kind}: {bat.types.get(name)}")
            for s, m in rd.items():
                check(m.types.get("rtp_reader_events_total") == "counter" and
                      m.types.get("rtp_reader_window") == "gauge", f"{s}: reader kinds")
                check(m.get("rtp_reader_records_total", stream=s) > 0, f"{s}: records sent during the run")
            check(bat.get("rtp_batcher_batches_total") > 0, "batches written during the run")
            check(bat.get("rtp_batcher_redis_write_seconds_count") == bat.get("rtp_batcher_batches_total"),
                  "one write time per batch during the run")
            during = {s: m.get("rtp_reader_records_total", stream=s) for s, m in rd.items()}
            top_line = _top_batcher_line(xdg)

            # restart the replay server on its port: a reconnect for each reader. The
            # counts in between are what the first server delivered, all of it.
            first.signal(signal.SIGKILL)
            first.popen.wait(10)
            time.sleep(1.5)
            before = {s: Metrics(u).scrape() for s, u in reader_urls.items()}
            second = _replay_on(first.port)
            replays.append(second)

            def reconnected():
                for s, u in reader_urls.items():
                    m = _scrape(u)
                    if not m or m.get("rtp_reader_connects_total", stream=s) <= \
                            before[s].get("rtp_reader_connects_total", stream=s):
                        return False
                return True
            rtptest.wait_until(reconnected, 30, "both readers connected to the restarted server")
            for s, u in reader_urls.items():
                m = Metrics(u).scrape()
                check(m.get("rtp_reader_reconnects_total", stream=s) > before[s].get("rtp_reader_reconnects_total",
                                                                                      stream=s),
                      f"{s}: the restart counted as a reconnect")
                check(m.get("rtp_reader_records_total", stream=s) >= during[s], f"{s}: records never go down")

            # the end: the second pass stored, nothing moving
            def settled():
                if not up.alive():
                    raise AssertionError(f"rtp up exited:\n{up.stderr_text()[-3000:]}")
                if c.command("ZCARD", "tweets") < TOTAL:
                    return None
                a = [Metrics(u).scrape().samples for u in [bat_url, *reader_urls.values()]]
                time.sleep(2.0)
                b = [Metrics(u).scrape() for u in [bat_url, *reader_urls.values()]]
                if a != [m.samples for m in b]:
                    return None
                readers = dict(zip(reader_urls, b[1:]))
                done = all(m.get("rtp_reader_window", stream=s) == 0 and
                           m.get("rtp_reader_events_total", stream=s) > 0 for s, m in readers.items())
                done = done and b[0].get("rtp_batcher_held") == 0
                # the second pass is over: each stream read its whole file again after the restart
                done = done and all(m.get("rtp_reader_tweets_total", stream=s) >=
                                    before[s].get("rtp_reader_tweets_total", stream=s) + LINES[s]
                                    for s, m in readers.items())
                return (b[0], readers) if done else None
            try:
                bat, rd = rtptest.wait_until(settled, 180, "the system settled", interval=0.2)
            except TimeoutError:
                print(up.stderr_text()[-4000:])
                raise
            agg = Metrics(agg_url).scrape()
            stored = c.command("ZCARD", "tweets")
            letters = rtpcheck.dead_letters(c)
            ran = time.time() - started
            code = up.stop(timeout=90)
            check(code == 0, f"rtp up exits 0, got {code}")
            stdout, up_log = up.stdout_text(), up.stderr_text()
            replay_logs = [r.stderr_text() for r in replays]
            for r in replays:
                r.stop()

        # Redis
        g = bat.get
        check(stored == TOTAL, f"{TOTAL} distinct tweets stored, got {stored}")
        check(g("rtp_batcher_tweets_stored_total") == stored,
              f"batcher tweets stored {g('rtp_batcher_tweets_stored_total')} == ZCARD tweets {stored}")
        check(g("rtp_batcher_dead_letters_total") == len(letters),
              f"batcher dead letters {g('rtp_batcher_dead_letters_total')} == LLEN deadletter {len(letters)}")
        written = g("rtp_batcher_records_total")
        # a dead letter resent (its reader's acknowledgement came late) is written again and
        # found in the list: counted apart, not appended twice
        parts = {k: g(f"rtp_batcher_{k}_total") for k in ("tweets_stored", "duplicates", "dead_letters",
                                                          "dead_letter_duplicates")}
        check(written == sum(parts.values()),
              f"records written {written:g} = new + already stored + dead letters + dead letters already "
              f"listed {parts}")
        check(g("rtp_batcher_duplicates_total") > 0, "the second pass wrote tweets already stored")
        # the readers against the batcher
        total = {k: sum(m.get(f"rtp_reader_{k}_total", stream=s) for s, m in rd.items())
                 for k in ("records", "resent", "acked", "events", "tweets", "retweets", "panics", "malformed")}
        if total["resent"] == 0:
            check(total["records"] == written, f"reader records {total['records']:g} == batcher records {written:g} "
                                               "(nothing lost, nothing resent)")
        else:
            check(total["records"] <= written <= total["records"] + total["resent"],
                  f"reader records {total['records']:g} <= batcher records {written:g} <= + resent "
                  f"{total['resent']:g}")
        check(g("rtp_batcher_acked_records_total") == written, "every record written was acknowledged")
        check(g("rtp_batcher_received_total") == written, "every record received was written")
        check(agg.get("rtp_aggregator_sent_total") == g("rtp_batcher_received_total"),
              f"aggregator sent {agg.get('rtp_aggregator_sent_total'):g} == batcher received "
              f"{g('rtp_batcher_received_total'):g}")
        check(agg.get("rtp_aggregator_pending_joins") == 0 and agg.get("rtp_aggregator_ready") == 0,
              "the aggregator holds nothing at the end")
        for s, m in rd.items():
            n = {k: m.get(f"rtp_reader_{k}_total", stream=s) for k in
                 ("records", "acked", "events", "tweets", "retweets", "panics", "malformed", "received_bytes")}
            check(n["acked"] == n["records"] and m.get("rtp_reader_window", stream=s) == 0,
                  f"{s}: every record acknowledged ({n['acked']:g} of {n['records']:g}), window empty")
            check(n["events"] == n["tweets"] + n["panics"] + n["malformed"], f"{s}: events = tweets + panics + "
                                                                             f"malformed: {n}")
            check(n["records"] == n["tweets"] + n["retweets"] + n["panics"] + n["malformed"],
                  f"{s}: records = tweets + retweets + panics + malformed: {n}")
            check(n["received_bytes"] > 0 and m.get("rtp_reader_paused", stream=s) in (0, 1), f"{s}: bytes, paused")
            second_pass = n["tweets"] - before[s].get("rtp_reader_tweets_total", stream=s)
            check(second_pass == LINES[s], f"{s}: the restarted server's pass read whole: {second_pass:g} tweets "
                                           f"of {LINES[s]}")
        panic_letters = [d for d in letters if d["reason"].startswith("panic")]
        # every panic read ends as one dead letter: a panic record resent (its ACK
        # overdue) is dropped while in flight, or answered with the same letter, which
        # the store keeps once, and crashes no second worker
        check(total["panics"] > 0 and len(panic_letters) == total["panics"],
              f"panics read {total['panics']:g} == panic dead letters {len(panic_letters)} (resent {total['resent']:g})")
        check(total["malformed"] == 0, "no malformed events from the stand-in server")
        # the batcher's own consistency
        check(g("rtp_batcher_redis_write_seconds_count") == g("rtp_batcher_batches_total"),
              "write-time histogram count == batches")
        buckets = sorted((float(dict(k[1])["le"]), v) for k, v in bat.samples.items()
                         if k[0] == "rtp_batcher_redis_write_seconds_bucket")
        check(len(buckets) >= 2 and buckets[-1] == (float("inf"), g("rtp_batcher_batches_total")) and
              all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), "write-time buckets cumulative to +Inf")
        check(g("rtp_batcher_redis_write_seconds_sum") > 0, "write time summed")
        # end-to-end latency: one observation per tweet written (not the dead letters)
        joined = g("rtp_batcher_tweets_stored_total") + g("rtp_batcher_duplicates_total")
        check(g("rtp_batcher_record_latency_seconds_count") == joined,
              f"latency histogram count {g('rtp_batcher_record_latency_seconds_count'):g} == tweets written {joined:g}")
        buckets = sorted((float(dict(k[1])["le"]), v) for k, v in bat.samples.items()
                         if k[0] == "rtp_batcher_record_latency_seconds_bucket")
        check(len(buckets) >= 2 and buckets[-1] == (float("inf"), joined) and
              all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), "latency buckets cumulative to +Inf")
        mean = g("rtp_batcher_record_latency_seconds_sum") / joined
        check(0 < mean < 60, f"a mean end-to-end latency of {mean * 1000:.1f} ms")
        print(f"  end-to-end latency: mean {mean * 1000:.1f} ms over {joined:g} tweets")
        check(g("rtp_batcher_redis_up") == 1 and g("rtp_batcher_failed_writes_total") == 0, "Redis up throughout")
        check(g("rtp_batcher_journal_records") == 0 and g("rtp_batcher_journal_bytes") == 0, "journal empty")
        check(g("rtp_batcher_acks_total") > 0, "ACK messages sent")
        # the faults: cuts and the restart
        for s, p in STREAMS.items():
            cuts = sum(_cuts(log, p) for log in replay_logs)
            connects = rd[s].get("rtp_reader_connects_total", stream=s)
            reconnects = rd[s].get("rtp_reader_reconnects_total", stream=s)
            check(cuts >= 2, f"{s}: the replay servers cut the stream ({cuts})")
            # one connection for each cut and one for the restart, except when the first
            # server was killed in the moment between a cut and the reader's reconnect:
            # then one connection (to the second server) follows both (the restart's own
            # reconnect was checked above)
            check(cuts + 1 <= connects <= 1 + cuts + 1,
                  f"{s}: connections {connects:g} == 1 + {cuts} cuts + 1 restart (or one less)")
            check(reconnects >= connects - 1, f"{s}: reconnects {reconnects:g} count every new connection")
        # the batcher's summary lines
        lines = [m for m in (BATCH_LINE.match(ln) for ln in stdout.splitlines()) if m]
        summed = sum(int(m.group(1)) for m in lines)
        finals = re.findall(r"rtp-batcher\[\d+\] final stats .* records=(\d+) ", up_log)
        check(len(finals) == 1, f"the batcher logged its final stats once: {finals}")
        check(summed == int(finals[0]) >= written,
              f"the batcher's lines sum to {summed} records, its final stats say {finals[0]} (>= {written:g} "
              "at the last scrape)")
        check(len(lines) <= 2 * ran + 4, f"{len(lines)} summary lines in {ran:.1f} s: at most about 2 a second")
        check(len(lines) < g("rtp_batcher_batches_total"), f"{len(lines)} lines for {g('rtp_batcher_batches_total'):g}"
                                                           " batches: sampled")
        # the docs
        for page, m in (("rtp-batcher.md", bat), ("rtp-reader.md", next(iter(rd.values())))):
            with open(os.path.join(ROOT, "docs", page), encoding="utf-8") as f:
                doc = f.read()
            missing = [n for n in m.types if f"`{n}`" not in doc]
            check(not missing, f"docs/{page} lists every metric served; missing {missing}")
        print(f"  stored {stored} = batcher tweets stored; dead letters {len(letters)} (panics {total['panics']:g}); "
              f"reader records {total['records']:g} (resent {total['resent']:g}) vs batcher records {written:g}; "
              f"batches {g('rtp_batcher_batches_total'):g} in {len(lines)} lines over {ran:.1f} s; "
              f"rtp top: {top_line!r}; "
              f"connections per stream " + ", ".join(
                  f"{s} {rd[s].get('rtp_reader_connects_total', stream=s):g}" for s in STREAMS))
    finally:
        for r in replays:
            r.stop()
        shutil.rmtree(runtime_dir, ignore_errors=True)
        shutil.rmtree(xdg, ignore_errors=True)


def _top_batcher_line(xdg):
    """rtp top's batcher line once it shows a live record rate (in tmux, found
    through the run info in xdg)."""
    tmux = Tmux()
    try:
        tmux.run("new-session", "-d", "-s", "top", "-x", "160", "-y", "40", "env", f"XDG_RUNTIME_DIR={xdg}",
                 rtptest.bin_path("rtp"), "top", "--interval-ms", "500")
        rx = re.compile(r"^batcher: records ([\d.]+)/s +Redis write p50 ([\d.]+) ms p99 ([\d.]+) ms +"
                        r"journal (\d+) records \((\d+) bytes\) +refused (\d+) rows +Redis up\s*$", re.M)

        def shown():
            m = rx.search(tmux.capture())
            return m if m and float(m.group(1)) > 0 else None
        try:
            m = rtptest.wait_until(shown, 20, "rtp top showing the batcher with a record rate", interval=0.2)
        except TimeoutError:
            print(tmux.capture())
            raise
        check(0 < float(m.group(2)) <= float(m.group(3)), f"write time p50 <= p99: {m.group(0)}")
        check(m.group(4) == "0" and m.group(5) == "0", "rtp top: the journal empty")
        check(m.group(6) == "0", "rtp top: no row refused")
        tmux.run("send-keys", "-t", "top", "q")
        rtptest.wait_until(lambda: not tmux.alive(), 10, "rtp top quitting on q")
        return m.group(0).strip()
    finally:
        tmux.close()


if __name__ == "__main__":
    rtptest.main(globals())
