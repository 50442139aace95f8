"""rtp-reader's spool (--spool-dir): what a reader took and nobody acknowledged is on
disk and goes out again, same seq and content, when the reader starts next. Against
the stand-in rtp-replay over real HTTP, into the event sink standing in for the
broker:

- SIGKILL with a full window (nothing acknowledged): the spool file holds exactly the
  records the sink received; a new reader sends exactly those first, then new ones
  with larger seqs; once they are acknowledged and it stops, the file is gone
- a torn last entry (the file cut short by a few bytes): the reader says so, drops
  that record only, and sends every record before it
- a file that is not a spool, or a spool path that cannot be opened: the reader
  refuses to start with a clear message and leaves the file as it was
- a full spool (--spool-max-bytes 64 KiB, nothing acknowledged): the reader says so
  and the stream waits; the file stays within its bound plus one event's records;
  with acknowledgements the same bound carries a whole stream (compaction)
"""
import os
import shutil
import signal
import tempfile

import rtptest
from rtpspool import read_spool
from rtptest import check

FAST = ["--backoff-min-ms", "20", "--backoff-max-ms", "300", "--stats-interval-ms", "200"]


def start_reader(url, broker, spool_dir, *extra):
    return rtptest.Proc("rtp-reader", ["--url", url, "--broker", broker, "--spool-dir", spool_dir,
                                       "--metrics-port", 0, *FAST, *extra])


def first_arrivals(sink, origin="tweets-1"):
    seen, firsts = set(), []
    for e in rtptest.sink_events(sink):
        if e.origin == origin and e.seq not in seen:
            seen.add(e.seq)
            firsts.append(e)
    return firsts


def _killed_with_window(folder, window=300):
    """A reader that took `window` records, none acknowledged, killed with SIGKILL.
    Returns the replay (its stream cursor past those records) and what the sink got."""
    replay = rtptest.start_replay("--loops", 1, "--rate", 0, "--burst", "false", "--panic-rate", 0)
    sink = rtptest.start_sink(acks="none")
    reader = start_reader(f"{replay.url}/tweets/1", sink.endpoint, folder, "--window", window)
    rtptest.wait_until(lambda: len(first_arrivals(sink)) >= window, 30, f"{window} records at the sink")
    reader.signal(signal.SIGKILL)
    reader.stop()
    got = first_arrivals(sink)
    sink.stop()
    return replay, got


def test_sigkill_then_restart_resends_exactly_the_spooled_records():
    with tempfile.TemporaryDirectory(prefix="rtptest-spool-") as folder:
        replay, got = _killed_with_window(folder)
        check(len(got) == 300, f"the window of 300 went out and no more: {len(got)}")
        spooled, tail = read_spool(os.path.join(folder, "tweets-1.spool"))
        check(tail == 0, f"no torn tail after a SIGKILL between writes: {tail} bytes")
        check([s for s, _ in spooled] == [e.seq for e in got],
              f"the spool holds exactly the {len(got)} records sent ({len(spooled)} in it)")
        sink = rtptest.start_sink(acks="all")
        reader = start_reader(f"{replay.url}/tweets/1", sink.endpoint, folder, "--window", 300)
        reader.wait_log(r"300 records taken by the last run and not acknowledged: sending them again first", 10)
        rtptest.wait_until(lambda: len(first_arrivals(sink)) >= 300, 30, "the spooled records at the sink")
        # the stream goes on where the dead reader's connection stopped (what the
        # server had written into that connection is gone with it)
        rtptest.wait_until(lambda: (rtptest.reader_stats(reader.stderr_text(), "stats") or {}).get("window", 1) == 0,
                           30, "everything acknowledged")
        again = first_arrivals(sink)
        check([(e.seq, e.detail) for e in again[:300]] == [(e.seq, e.detail) for e in got],
              "the spooled records go out first, same seqs and tweets")
        check(all(e.seq > got[-1].seq for e in again[300:]), f"{len(again) - 300} new records, larger seqs")
        check(reader.stop(timeout=30) == 0, "the reader exits 0")
        check(not os.path.exists(os.path.join(folder, "tweets-1.spool")),
              "nothing left to resend: the spool file is removed")
        replay.stop()
        sink.stop()


def test_torn_last_entry_loses_only_that_record():
    with tempfile.TemporaryDirectory(prefix="rtptest-spool-torn-") as folder:
        replay, got = _killed_with_window(folder, window=50)
        path = os.path.join(folder, "tweets-1.spool")
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.truncate(size - 5)   # the last write cut short
        spooled, tail = read_spool(path)
        check(len(spooled) == 49 and tail > 0, f"49 whole records and a torn one: {len(spooled)}, {tail} bytes")
        sink = rtptest.start_sink(acks="none")
        reader = start_reader(f"{replay.url}/tweets/1", sink.endpoint, folder, "--window", 49)
        reader.wait_log(r"its last %d bytes were cut short or damaged \(a torn write\): dropped; the 49 records "
                        r"before them are kept" % tail, 10)
        rtptest.wait_until(lambda: len(first_arrivals(sink)) >= 49, 30, "the kept records at the sink")
        check([(e.seq, e.detail) for e in first_arrivals(sink)] == [(e.seq, e.detail) for e in got[:49]],
              "every record before the torn one is sent again, the torn one only is lost")
        reader.signal(signal.SIGKILL)
        reader.stop()
        replay.stop()
        sink.stop()


def test_not_a_spool_or_unopenable_refuses_to_start_and_keeps_the_file():
    with tempfile.TemporaryDirectory(prefix="rtptest-spool-bad-") as folder:
        sink = rtptest.start_sink(acks="none")
        path = os.path.join(folder, "tweets-1.spool")
        junk = b"this is somebody's notes, not a spool\n" * 10
        with open(path, "wb") as f:
            f.write(junk)
        reader = start_reader("http://127.0.0.1:9/tweets/1", sink.endpoint, folder)
        check(reader.popen.wait(30) == 1, "the reader refuses to start (exit 1)")
        check(f"{path} is not a reader spool (no RTPS header): move it away or remove it" in reader.stderr_text(),
              f"it says why: {reader.stderr_text()[-300:]}")
        with open(path, "rb") as f:
            check(f.read() == junk, "the file is left as it was")
        os.unlink(path)
        os.mkdir(path)   # a spool that cannot be opened as a file
        reader = start_reader("http://127.0.0.1:9/tweets/1", sink.endpoint, folder)
        check(reader.popen.wait(30) == 1, "the reader refuses to start (exit 1)")
        check(f"cannot open the spool {path}: Is a directory" in reader.stderr_text(),
              f"it says why: {reader.stderr_text()[-300:]}")
        sink.stop()


def test_full_spool_waits_within_its_bound_and_a_small_bound_carries_a_stream():
    with tempfile.TemporaryDirectory(prefix="rtptest-spool-full-") as folder:
        bound = 65536
        replay = rtptest.start_replay("--loops", 1, "--rate", 0, "--burst", "false", "--panic-rate", 0)
        sink = rtptest.start_sink(acks="none")
        reader = start_reader(f"{replay.url}/tweets/1", sink.endpoint, folder, "--spool-max-bytes", bound)
        reader.wait_log(r"spool full: \S+ holds \d+ bytes \(bound 65536\); the stream waits for acknowledgements",
                        30)
        path = os.path.join(folder, "tweets-1.spool")
        size = os.path.getsize(path)
        # one event (a retweet: two records of up to a few KiB) may go past the bound
        check(bound <= size <= bound + 16384, f"the file stops at its bound: {size} bytes")
        sent = len(first_arrivals(sink))
        reader.signal(signal.SIGKILL)
        reader.stop()
        spooled, _ = read_spool(path)
        check(len(spooled) == sent, f"every record sent is in the spool: {len(spooled)} of {sent}")
        sink.stop()
        replay.stop()
        # the same bound with acknowledgements: compaction makes room, a whole stream goes through
        shutil.rmtree(folder)
        ids = rtptest.jsonl_record_ids(rtptest.data_path("tweets-a.jsonl"))
        replay = rtptest.start_replay("--loops", 1, "--rate", 0, "--burst", "false", "--panic-rate", 0)
        sink = rtptest.start_sink(acks="all")
        reader = start_reader(f"{replay.url}/tweets/1", sink.endpoint, folder, "--spool-max-bytes", bound)
        rtptest.wait_until(lambda: len([e for e in first_arrivals(sink) if e.kind == "tweet"]) >= len(ids), 120,
                           "the whole stream through a 64 KiB spool")
        check([e.detail for e in first_arrivals(sink) if e.kind == "tweet"] == ids,
              "every record of the stream, in order")
        check(reader.stop(timeout=30) == 0, "the reader exits 0")
        check(not os.path.exists(path), "the spool file is removed once all is acknowledged")
        sink.stop()
        replay.stop()


if __name__ == "__main__":
    rtptest.main(globals())
