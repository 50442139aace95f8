"""rtp-reader against the stand-in rtp-replay over real HTTP, into an event sink
standing in for the broker.

- every event of both streams arrives exactly once and in order, although the
  server cuts the connection in the middle of every 37th event (the reader
  reconnects, logs it, and gets the cut event again whole), and panics arrive as
  panic EVENTs; the expected ids are computed here from the .jsonl files. Twice:
  without acknowledgement (--window 0), and with a window of 16 records that the
  sink acknowledges (so parsing stops and resumes between events all the time)
- seqs are consecutive, starting at the reader's start time in microseconds
- a reader started before the server backs off and connects when it comes up
- a reader started before the broker (sink) pauses, and delivers everything once
  the sink binds
- --help names every setting with its environment variable
"""
import re
import shutil
import subprocess
import tempfile
import time

import rtptest
from rtptest import check

DROP_EVERY = 37
FAST = ["--backoff-min-ms", "20", "--backoff-max-ms", "300", "--stats-interval-ms", "300"]


def start_reader(url, broker, *extra, window=0):
    """A reader with fast retries; window 0 (no acknowledgement) unless asked.
    .started_us: the wall clock just before it started, in microseconds."""
    started_us = time.time_ns() // 1000
    p = rtptest.Proc("rtp-reader", ["--url", url, "--broker", broker, "--window", window, *FAST, *extra])
    p.started_us = started_us
    return p


def check_stream(events, origin, expected_ids, reader):
    """The sink's events of one origin: tweet ids in expected order, each once,
    seqs consecutive from the reader's start time in microseconds (as it logs it,
    after reader.started_us) without gap or repeat, no malformed. Returns the panic
    count."""
    mine = [e for e in events if e.origin == origin]
    seqs = [e.seq for e in mine]
    first = seqs[0] if seqs else 0
    logged = int(reader.wait_log(r"INFO .*reading \S+ as .*; seqs from (\d+)", 5).group(1))
    check(first == logged and reader.started_us <= first <= reader.started_us + 60_000_000,
          f"{origin}: the first seq {first} is the reader's start time in us (logged {logged}, "
          f"started after {reader.started_us})")
    check(seqs == list(range(first, first + len(mine))),
          f"{origin}: seqs are {first}..+{len(mine) - 1} in order, each once (first bad: "
          f"{next((s for i, s in enumerate(seqs) if s != first + i), None)})")
    tweets = [e.detail for e in mine if e.kind == "tweet"]
    if tweets != expected_ids:
        missing = len(set(expected_ids) - set(tweets))
        dups = len(tweets) - len(set(tweets))
        check(False, f"{origin}: {len(tweets)} tweet records, expected {len(expected_ids)} "
                     f"({missing} ids missing, {dups} duplicates, or out of order)")
    check(True, f"{origin}: tweet ids equal the file's, in order")
    malformed = [e for e in mine if e.kind == "malformed"]
    check(not malformed, f"{origin}: no malformed events, got {malformed[:3]}")
    return sum(1 for e in mine if e.kind == "panic")


def exactly_once_with_drops_and_panics(window):
    expected = {
        "tweets-1": rtptest.jsonl_record_ids(rtptest.data_path("tweets-a.jsonl")),
        "tweets-2": rtptest.jsonl_record_ids(rtptest.data_path("tweets-b.jsonl")),
    }
    sink = rtptest.start_sink(acks="all" if window else "none")
    replay = rtptest.start_replay("--loops", "1", "--rate", "0", "--drop-every", DROP_EVERY,
                                  "--panic-rate", "0.05", "--seed", "11")
    readers = {name: start_reader(f"{replay.url}/tweets/{name[-1]}", sink.endpoint, window=window)
               for name in expected}

    def all_in():
        events = rtptest.sink_events(sink)
        return all(sum(1 for e in events if e.origin == o and e.kind == "tweet") >= len(ids)
                   for o, ids in expected.items())
    rtptest.wait_until(all_in, 60, "every tweet record at the sink")
    time.sleep(0.7)   # a duplicate would arrive right behind: give it a moment

    events = rtptest.sink_events(sink)
    cuts = {o: len(re.findall(rf"cutting /tweets/{o[-1]} ", replay.stderr_text())) for o in expected}
    for origin, reader in readers.items():
        check(reader.alive(), f"{origin}: reader still running")
        panics = check_stream(events, origin, expected[origin], reader)
        check(reader.stop() == 0, f"{origin}: reader exits 0 on SIGTERM")
        log = reader.stderr_text()
        stats = rtptest.reader_stats(log)
        check(stats is not None, f"{origin}: final stats line logged")
        tweets_in_file = sum(1 for _ in open(rtptest.data_path("tweets-a.jsonl" if origin == "tweets-1"
                                                               else "tweets-b.jsonl")))
        check(stats["tweets"] == tweets_in_file, f"{origin}: stats tweets={stats['tweets']}, "
                                                 f"the file has {tweets_in_file}")
        check(stats["tweets"] + stats["retweets"] == len(expected[origin]),
              f"{origin}: tweets + retweets = records ({len(expected[origin])})")
        check(panics > 0 and stats["panics"] == panics,
              f"{origin}: {panics} panic EVENTs at the sink, {stats['panics']} counted")
        check(stats["records"] == stats["sent"] == len(expected[origin]) + panics,
              f"{origin}: records={stats['records']} sent={stats['sent']} "
              f"expected {len(expected[origin]) + panics}")
        disconnects = re.findall(r"WARN .*disconnected from http://\S+/tweets/\d after .*"
                                 r"reconnecting in \d+ ms", log)
        connects = re.findall(r"INFO .*connected to http://\S+/tweets/\d: HTTP 200", log)
        check(cuts[origin] >= 5, f"{origin}: the server cut the stream ({cuts[origin]} times)")
        check(len(disconnects) >= cuts[origin] and stats["reconnects"] >= cuts[origin],
              f"{origin}: {len(disconnects)} disconnects logged, {stats['reconnects']} reconnects counted, "
              f"{cuts[origin]} cuts")
        check(len(connects) == stats["connects"] == len(disconnects) + 1,
              f"{origin}: {len(connects)} connects logged = {stats['connects']} counted = disconnects + 1")
        check(stats["truncated"] == cuts[origin],
              f"{origin}: truncated={stats['truncated']} equals the server's cuts ({cuts[origin]})")
        if window:
            check(stats["acked"] == stats["records"] and stats["window"] == 0 and stats["resent"] == 0
                  and stats["unknown_acks"] == 0,
                  f"{origin}: every record acknowledged once, none resent: acked={stats['acked']} "
                  f"window={stats['window']} resent={stats['resent']} unknown_acks={stats['unknown_acks']}")
            check(stats["window_full_pauses"] > 0, f"{origin}: the window of {window} filled "
                                                   f"({stats['window_full_pauses']} pauses)")
        else:
            check(stats["acked"] == 0 and stats["window"] == 0 and stats["ignored_in"] == 0,
                  f"{origin}: no acknowledgement without a window")
        print(f"  {origin}, window {window}: {len(expected[origin])} tweet records and {panics} panics exactly "
              f"once, in order; {cuts[origin]} cuts, {stats['reconnects']} reconnects, {len(disconnects)} "
              f"disconnect lines, {stats['window_full_pauses']} window-full pauses")
    replay.stop()
    sink.stop()


def test_exactly_once_with_drops_and_panics():
    exactly_once_with_drops_and_panics(window=0)


def test_exactly_once_with_drops_and_panics_acknowledged():
    exactly_once_with_drops_and_panics(window=16)


def test_reader_before_server():
    port = rtptest.free_port()
    sink = rtptest.start_sink()
    reader = start_reader(f"http://127.0.0.1:{port}/tweets/2", sink.endpoint)
    refused = re.compile(r"WARN .*no stream from http://127.0.0.1:%d/tweets/2: .*retrying in \d+ ms" % port)
    rtptest.wait_until(lambda: len(refused.findall(reader.stderr_text())) >= 3, 20, "3 failed attempts logged")
    delays = [int(d) for d in re.findall(r"no stream from .* retrying in (\d+) ms", reader.stderr_text())]
    check(all(0 <= d <= 300 for d in delays), f"backoff delays within [0, backoff-max]: {delays}")
    replay = rtptest.start_replay("--port", port, "--loops", "1", "--rate", "0")
    reader.wait_log(r"connected to http://127.0.0.1:%d/tweets/2: HTTP 200" % port, 10)
    expected = rtptest.jsonl_record_ids(rtptest.data_path("tweets-b.jsonl"))
    rtptest.wait_until(lambda: len(rtptest.sink_events(sink)) >= len(expected), 30, "all records at the sink")
    check_stream(rtptest.sink_events(sink), "tweets-2", expected, reader)
    check(reader.stop() == 0, "reader exits 0")
    stats = rtptest.reader_stats(reader.stderr_text())
    check(stats["errors"] >= 3 and stats["connects"] == 1,
          f"failed attempts counted as errors ({stats['errors']}), then one connection")
    print(f"  {len(delays)} refused attempts with backoff {delays[:6]} ms, then {len(expected)} records once")
    replay.stop()
    sink.stop()


def test_reader_before_sink():
    folder = tempfile.mkdtemp(prefix="rtptest-reader-")
    endpoint = f"ipc://{folder}/readers"
    replay = rtptest.start_replay("--loops", "1", "--rate", "0")
    reader = start_reader(f"{replay.url}/tweets/1", endpoint, "--send-hwm", "50")
    reader.wait_log(r"connected to .*/tweets/1: HTTP 200", 10)
    # Without a broker ZeroMQ queues --send-hwm events, then the reader pauses the
    # transfer rather than dropping or blocking.
    rtptest.wait_until(lambda: (rtptest.reader_stats(reader.stderr_text(), "stats") or {}).get("pauses", 0) > 0,
                       10, "the reader pausing")
    before = rtptest.reader_stats(reader.stderr_text(), "stats")
    check(before["sent"] < 300, f"only a bounded number handed to ZeroMQ without a broker: sent={before['sent']}")
    check(reader.alive(), "reader alive while the broker is absent")
    sink = rtptest.start_sink(endpoint)
    expected = rtptest.jsonl_record_ids(rtptest.data_path("tweets-a.jsonl"))
    rtptest.wait_until(lambda: len(rtptest.sink_events(sink)) >= len(expected), 30, "all records at the sink")
    check_stream(rtptest.sink_events(sink), "tweets-1", expected, reader)
    check(reader.stop() == 0, "reader exits 0")
    print(f"  paused with sent={before['sent']} pending={before['pending']} before the sink bound; "
          f"then {len(expected)} records once, in order")
    replay.stop()
    sink.stop()
    shutil.rmtree(folder, ignore_errors=True)


def test_help_names_every_setting():
    out = subprocess.run([rtptest.bin_path("rtp-reader"), "--help"], capture_output=True, text=True, timeout=10)
    check(out.returncode == 0, "--help exits 0")
    names = ["url", "broker", "name", "max-event-bytes", "read-timeout-ms", "connect-timeout-ms",
             "backoff-min-ms", "backoff-max-ms", "stats-interval-ms", "send-hwm", "linger-ms", "window",
             "ack-timeout-ms", "ack-backoff-max-ms", "drain-ms"]
    for n in names:
        env = "RTP_READER_" + n.upper().replace("-", "_")
        check(f"--{n} " in out.stdout and env in out.stdout, f"--help lists --{n} and {env}")
    bad = subprocess.run([rtptest.bin_path("rtp-reader"), "--url", "not a url"], capture_output=True, text=True,
                         timeout=10)
    check(bad.returncode == 2 and "--url" in bad.stderr, "a bad --url is a usage error (exit 2)")
    print(f"  {len(names)} settings in --help, bad --url rejected")


if __name__ == "__main__":
    rtptest.main(globals())
