"""rtp-reader's end-to-end acknowledgement (--window), against the stand-in
rtp-replay (or an endless stream served here) over real HTTP, into the event sink
acknowledging what it receives the way the batcher does (ACK with origin + seqs,
back to the reader that sent them):

- acknowledged: every record of both streams arrives once, every one is
  acknowledged, the window returns to 0, nothing is resent
- withheld: the first ACK of every 7th seq is withheld; exactly those records are
  resent after --ack-timeout-ms with the same seq and content, then acknowledged
- late: acknowledgements slower than --ack-timeout-ms make resends, and the ACKs of
  the duplicates are counted as unknown: acked + unknown = every seq acknowledged
- no ACK at all, --window 100: the sink gets exactly the first 100 seqs, then only
  resends; the reader stops parsing (records stays at what those 100 took), the
  transfer is paused and the server can write no more (TCP pushes back); on
  SIGTERM it gives up after --drain-ms and says how many were unacknowledged
- SIGTERM with acknowledgements outstanding: the reader waits, resends, and exits
  only once everything is acknowledged
- a restarted reader's seqs are all larger than its previous incarnation's
(--window 0, the old behaviour, is test_reader.py and test_reader_bad_input.py.)
"""
import json
import re
import socket
import threading
import time

import rtptest
from rtptest import check

FAST = ["--backoff-min-ms", "20", "--backoff-max-ms", "300", "--stats-interval-ms", "200"]


def start_reader(url, broker, *extra):
    started_us = time.time_ns() // 1000
    p = rtptest.Proc("rtp-reader", ["--url", url, "--broker", broker, *FAST, *extra])
    p.started_us = started_us
    return p


def stats(reader, label="stats"):
    return rtptest.reader_stats(reader.stderr_text(), label) or {}


def by_seq(events, origin):
    """seq -> the list of (kind, detail) of each arrival, for one origin."""
    seen = {}
    for e in events:
        if e.origin == origin:
            seen.setdefault(e.seq, []).append((e.kind, e.detail))
    return seen


def start_seq(reader):
    """The first seq as the reader logs it at start; checks it is the reader's
    start time in microseconds (after reader.started_us; a loaded machine may take
    long to start a process)."""
    logged = int(reader.wait_log(r"INFO .*reading \S+ as .*; seqs from (\d+)", 5).group(1))
    check(reader.started_us <= logged <= reader.started_us + 60_000_000,
          f"the first seq {logged} is the reader's start time in us (started after {reader.started_us})")
    return logged


def check_first_arrivals(events, origin, expected_ids, reader):
    """The first arrival of each seq, in order: seqs consecutive from the reader's
    start time in microseconds, tweet ids as in the file. Returns the seqs."""
    firsts, seen = [], set()
    for e in events:
        if e.origin == origin and e.seq not in seen:
            seen.add(e.seq)
            firsts.append(e)
    seqs = [e.seq for e in firsts]
    first = start_seq(reader)
    check(seqs and seqs[0] == first, f"{origin}: the first seq {seqs[:1]} is the one logged at start ({first})")
    check(seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"{origin}: seqs consecutive, first arrivals in order")
    ids = [e.detail for e in firsts if e.kind == "tweet"]
    check(ids == expected_ids, f"{origin}: {len(ids)} tweet records in the file's order, expected "
                               f"{len(expected_ids)}")
    return seqs


def test_all_acknowledged():
    expected = {"tweets-1": rtptest.jsonl_record_ids(rtptest.data_path("tweets-a.jsonl")),
                "tweets-2": rtptest.jsonl_record_ids(rtptest.data_path("tweets-b.jsonl"))}
    sink = rtptest.start_sink(acks="all")
    replay = rtptest.start_replay("--loops", "1", "--rate", "0")
    readers = {o: start_reader(f"{replay.url}/tweets/{o[-1]}", sink.endpoint, "--ack-timeout-ms", "5000")
               for o in expected}
    for o, reader in readers.items():
        rtptest.wait_until(lambda: stats(reader).get("acked", 0) >= len(expected[o]) and
                           stats(reader).get("window", 1) == 0, 30, f"{o}: every record acknowledged")
    time.sleep(0.5)   # a duplicate or a resend would show
    events = rtptest.sink_events(sink)
    for o, reader in readers.items():
        check_first_arrivals(events, o, expected[o], reader)
        arrivals = by_seq(events, o)
        check(all(len(a) == 1 for a in arrivals.values()), f"{o}: each seq arrived once")
        check(reader.stop() == 0, f"{o}: exits 0")
        s = stats(reader, "final stats")
        n = len(expected[o])
        check(s["records"] == s["sent"] == s["acked"] == n,
              f"{o}: records={s['records']} sent={s['sent']} acked={s['acked']}, expected {n}")
        check(s["window"] == 0 and s["resent"] == 0 and s["unknown_acks"] == 0 and s["ignored_in"] == 0,
              f"{o}: window={s['window']} resent={s['resent']} unknown_acks={s['unknown_acks']} "
              f"ignored_in={s['ignored_in']}, expected all 0")
        check(not re.search(r"resent \d+ records", reader.stderr_text()), f"{o}: no resend logged")
        print(f"  {o}: {n} records once, {s['acked']} acknowledged, window back to 0, nothing resent")
    sink.stop()
    m = re.search(r"acks: (\d+) seqs in (\d+) ACK messages", sink.stderr_text())
    total = sum(len(v) for v in expected.values())
    check(m and int(m.group(1)) == total, f"the sink acknowledged {total} seqs: {m and m.group(0)}")
    print(f"  the sink sent {m.group(1)} seqs in {m.group(2)} ACK messages")
    replay.stop()


def test_withheld_acks_are_resent():
    every = 7
    expected = rtptest.jsonl_record_ids(rtptest.data_path("tweets-a.jsonl"))
    sink = rtptest.start_sink(acks=f"drop-first:{every}")
    replay = rtptest.start_replay("--loops", "1", "--rate", "0")
    reader = start_reader(f"{replay.url}/tweets/1", sink.endpoint, "--ack-timeout-ms", "2000",
                          "--ack-backoff-max-ms", "8000")
    rtptest.wait_until(lambda: stats(reader).get("acked", 0) >= len(expected) and
                       stats(reader).get("window", 1) == 0, 30, "every record acknowledged")
    time.sleep(0.5)   # a late duplicate, if any, would show
    events = rtptest.sink_events(sink)
    seqs = check_first_arrivals(events, "tweets-1", expected, reader)
    arrivals = by_seq(events, "tweets-1")
    withheld = [s for s in seqs if s % every == 0]
    twice = sorted(s for s, a in arrivals.items() if len(a) == 2)
    check(twice == withheld, f"exactly the {len(withheld)} seqs whose ACK was withheld arrived twice "
                             f"(got {len(twice)})")
    check(all(len(a) <= 2 for a in arrivals.values()), "no seq arrived more than twice")
    check(all(a[0] == a[1] for a in arrivals.values() if len(a) == 2), "a resend carries the same record")
    check(reader.stop() == 0, "exits 0")
    log = reader.stderr_text()
    s = stats(reader, "final stats")
    check(s["records"] == s["acked"] == len(expected), f"records={s['records']} acked={s['acked']}")
    check(s["resent"] == len(withheld) and s["window"] == 0 and s["unknown_acks"] == 0,
          f"resent={s['resent']} (expected {len(withheld)}) window={s['window']} unknown_acks={s['unknown_acks']}")
    logged = sum(int(n) for n in re.findall(r"WARN .*resent (\d+) records not acknowledged in time", log))
    check(logged == s["resent"], f"resends logged: {logged}, counted {s['resent']}")
    lines = len(re.findall(r"resent \d+ records not acknowledged", log))
    print(f"  {len(seqs)} records; {len(withheld)} ACKs withheld -> those {len(twice)} records resent with the "
          f"same seq and content, then acknowledged; {lines} resend lines logged")
    sink.stop()
    replay.stop()


def test_late_acks_count_as_unknown():
    expected = rtptest.jsonl_record_ids(rtptest.data_path("tweets-b.jsonl"))
    # acknowledges every 500 ms: far later than the reader waits (5 ms, then up to 20 ms
    # between resends), however slowly it runs (a sanitizer build parses a whole piece
    # of the stream before it looks at its timers)
    sink = rtptest.start_sink(acks="all", ack_every_ms=500)
    replay = rtptest.start_replay("--loops", "1", "--rate", "0")
    reader = start_reader(f"{replay.url}/tweets/2", sink.endpoint, "--ack-timeout-ms", "5",
                          "--ack-backoff-max-ms", "20")

    def settled():
        s = stats(reader)
        lines = len(rtptest.sink_events(sink))
        return (s.get("acked") == len(expected) and s.get("window") == 0 and
                s["acked"] + s["unknown_acks"] == lines and s["records"] + s["resent"] == lines and (s, lines))
    s, lines = rtptest.wait_until(settled, 30, "every arrival at the sink acknowledged and counted")
    events = rtptest.sink_events(sink)
    check_first_arrivals(events, "tweets-2", expected, reader)
    check(s["resent"] > 0 and s["unknown_acks"] > 0, f"resends ({s['resent']}) and their ACKs counted as unknown "
                                                     f"({s['unknown_acks']})")
    check(reader.stop() == 0, "exits 0")
    print(f"  {len(expected)} records, {lines} arrivals: {s['resent']} resends, every arrival acknowledged: "
          f"acked={s['acked']} + unknown_acks={s['unknown_acks']} = {lines}")
    sink.stop()
    replay.stop()


class EndlessServer:
    """Serves the tweets of a .jsonl file as the rtp-server does, over and over, to
    one connection, as fast as TCP lets it; .written counts the bytes TCP took."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.tweets = [line.strip() for line in f if line.strip()]
        self.events = [b'event: "message"\n\ndata: {"message": {"tweet": ' + t +
                       b', "unix_timestamp_100us": 14610078476580}}\n\n' for t in self.tweets]
        self.written = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
            conn.settimeout(None)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
            while True:
                for ev in self.events:
                    conn.sendall(ev)
                    self.written += len(ev)
        except OSError:
            pass

    def records_when_full(self, window):
        """The records a reader makes before it stops: those of the events up to
        the one that brings the window to `window` (a retweet's two records are
        made together)."""
        made = 0
        for t in self.tweets:
            made += len(rtptest.tweet_record_ids(json.loads(t)))
            if made >= window:
                return made
        raise ValueError("file too short")

    def close(self):
        self.sock.close()


def test_full_window_pauses_the_server():
    window = 100
    server = EndlessServer(rtptest.data_path("tweets-a.jsonl"))
    sink = rtptest.start_sink()   # acknowledges nothing
    reader = start_reader(f"http://127.0.0.1:{server.port}/tweets/1", sink.endpoint, "--window", window,
                          "--ack-timeout-ms", "300", "--ack-backoff-max-ms", "600", "--drain-ms", "700")
    rtptest.wait_until(lambda: len({e.seq for e in rtptest.sink_events(sink)}) >= window and
                       stats(reader).get("window_full_pauses", 0) > 0, 20, "the window full and the stream paused")

    def written_settles():
        before = server.written
        time.sleep(0.5)
        return server.written == before
    rtptest.wait_until(written_settles, 30, "the server unable to write more (TCP buffers full)", interval=0)
    written, s0 = server.written, stats(reader)
    time.sleep(1.5)
    s1 = stats(reader)
    events = rtptest.sink_events(sink)
    seqs = sorted({e.seq for e in events})
    made = server.records_when_full(window)

    check(server.written == written, f"the server wrote nothing more in 1.5 s ({written} bytes, then "
                                     f"{server.written})")
    check(seqs == list(range(seqs[0], seqs[0] + window)), f"the sink got exactly {window} distinct, consecutive "
                                                          f"seqs: {len(seqs)}")
    check(len(events) > window, f"then only resends: {len(events) - window} of them")
    arrivals = by_seq(events, "tweets-1")
    check(all(len(set(a)) == 1 for a in arrivals.values()), "a resend carries the same record")
    check(s0["records"] == s1["records"] == made and s0["events"] == s1["events"],
          f"the reader parses nothing more: records {s0['records']} -> {s1['records']} (the events up to the "
          f"{window}th record make {made}), events {s0['events']} -> {s1['events']}")
    check(s1["window"] == window and s1["sent"] == window and s1["acked"] == 0,
          f"window={s1['window']} sent={s1['sent']} acked={s1['acked']}")
    check(s1["window_full_pauses"] >= 1 and s1["pauses"] >= s1["window_full_pauses"],
          f"window_full_pauses={s1['window_full_pauses']} pauses={s1['pauses']}")
    check(s1["resent"] > s0["resent"] > 0, f"resends go on with backoff: {s0['resent']} -> {s1['resent']}")
    check(s1["stalls"] == 0 and s1["connects"] == 1, "a paused stream is not a stalled one")
    log = reader.stderr_text()
    check(re.search(r"WARN .*window full: 100 records sent and not acknowledged", log), "the full window logged")

    t0 = time.monotonic()
    check(reader.stop(timeout=10) == 0, "exits 0 on SIGTERM")
    took = time.monotonic() - t0
    log = reader.stderr_text()
    m = re.search(r"WARN .*gave up waiting for acknowledgements after (\d+) ms: (\d+) records unacknowledged",
                  log)
    check(m and int(m.group(1)) >= 700 and int(m.group(2)) >= window,
          f"gave up after --drain-ms, saying how many: {m and m.group(0)}")
    check(took >= 0.7, f"the reader waited for acknowledgements before exiting ({took:.2f} s)")
    print(f"  exactly {window} seqs sent ({made} records made), then {len(events) - window} resends only; "
          f"the server stuck at {written} bytes; {s1['window_full_pauses']} window-full pauses; gave up after "
          f"{m.group(1)} ms with {m.group(2)} unacknowledged")
    sink.stop()
    server.close()


def test_sigterm_waits_for_acks():
    every = 5
    expected = rtptest.jsonl_record_ids(rtptest.data_path("tweets-b.jsonl"))
    sink = rtptest.start_sink(acks=f"drop-first:{every}")
    replay = rtptest.start_replay("--loops", "1", "--rate", "0")
    reader = start_reader(f"{replay.url}/tweets/2", sink.endpoint, "--ack-timeout-ms", "4000",
                          "--drain-ms", "15000")
    rtptest.wait_until(lambda: len({e.seq for e in rtptest.sink_events(sink)}) >= len(expected), 30,
                       "every record at the sink once")
    before = stats(reader)
    t0 = time.monotonic()
    check(reader.stop(timeout=20) == 0, "exits 0 on SIGTERM")
    took = time.monotonic() - t0
    log = reader.stderr_text()
    s = stats(reader, "final stats")
    seqs = check_first_arrivals(rtptest.sink_events(sink), "tweets-2", expected, reader)
    withheld = [q for q in seqs if q % every == 0]
    waiting = re.search(r"INFO .*waiting up to 15000 ms for (\d+) records to be acknowledged", log)
    check(waiting and int(waiting.group(1)) >= len(withheld),
          f"waits for the outstanding records: {waiting and waiting.group(0)}")
    check(re.search(r"INFO .*every record acknowledged after \d+ ms", log), "and says all were acknowledged")
    check(s["acked"] == s["records"] == len(expected) and s["window"] == 0 and s["resent"] == len(withheld),
          f"acked={s['acked']} records={s['records']} window={s['window']} resent={s['resent']} "
          f"(withheld {len(withheld)})")
    arrivals = by_seq(rtptest.sink_events(sink), "tweets-2")
    check(sorted(q for q, a in arrivals.items() if len(a) == 2) == withheld, "the withheld ones arrived twice")
    check(before.get("resent", 0) == 0, f"nothing was resent before SIGTERM ({before.get('resent')})")
    print(f"  SIGTERM with {waiting.group(1)} records unacknowledged: resent {s['resent']}, all acknowledged, "
          f"exit after {took:.2f} s")
    sink.stop()
    replay.stop()


def test_restart_seqs_are_larger():
    expected = rtptest.jsonl_record_ids(rtptest.data_path("tweets-b.jsonl"))
    sink = rtptest.start_sink(acks="all")
    incarnations = []
    for i in range(2):
        replay = rtptest.start_replay("--loops", "1", "--rate", "0")
        reader = start_reader(f"{replay.url}/tweets/2", sink.endpoint, "--name", "restarted")
        rtptest.wait_until(lambda: stats(reader).get("acked", 0) >= len(expected), 30,
                           f"incarnation {i + 1}: every record acknowledged")
        check(reader.stop() == 0, f"incarnation {i + 1} exits 0")
        s = stats(reader, "final stats")
        check(s["acked"] == s["records"] == len(expected) and s["unknown_acks"] == 0,
              f"incarnation {i + 1}: acked={s['acked']} records={s['records']} unknown_acks={s['unknown_acks']}")
        mine = [e.seq for e in rtptest.sink_events(sink) if e.origin == "restarted"][i * len(expected):]
        check(len(mine) == len(expected) and mine == list(range(mine[0], mine[0] + len(mine))),
              f"incarnation {i + 1}: {len(mine)} consecutive seqs")
        check(mine[0] == start_seq(reader), f"incarnation {i + 1}: starts at its start time in us")
        incarnations.append(mine)
        replay.stop()
    check(min(incarnations[1]) > max(incarnations[0]),
          f"the restarted reader's seqs ({incarnations[1][0]}..) are all larger than the previous ones "
          f"(..{incarnations[0][-1]})")
    print(f"  incarnation 1: {incarnations[0][0]}..{incarnations[0][-1]}, incarnation 2: "
          f"{incarnations[1][0]}..{incarnations[1][-1]}")
    sink.stop()


if __name__ == "__main__":
    rtptest.main(globals())
