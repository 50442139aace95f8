"""The cost of the readers' spool (issue 15), a scenario of bench.py: one rtp-reader
reads stream 1 of the stand-in server (--rate 0: as fast as it reads, LOOPS passes)
into the event sink, which acknowledges every record as the batcher does; the same
run with and without --spool-dir, alternated, several pairs. Measured from outside:
the reader's CPU time (utime + stime) and wall time until the sink has every record,
and from the reader's last log line its spool writes, bytes and fdatasyncs. The
figure quoted is the CPU per record with the spool minus without (best run of each)."""

import os
import re
import shutil
import subprocess
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def _lines(path):
    with open(path, "rb") as f:
        return f.read().count(b"\n")


def _once(paths, loops, records, spool, tmp, error):
    """One reader run; a dict of figures."""
    log = open(os.path.join(tmp, "replay.log"), "wb")
    replay = subprocess.Popen([os.path.join(paths.bin, "rtp-replay"), "--port", "0", "--rate", "0", "--burst",
                               "false", "--loops", str(loops), "--panic-rate", "0"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
    sink_out = os.path.join(tmp, "sink.out")
    sink = subprocess.Popen([os.path.join(paths.tests, "event_sink"), "tcp://127.0.0.1:*", "600000", "all", "20"],
                            stdin=subprocess.DEVNULL, stdout=open(sink_out, "wb"), stderr=subprocess.DEVNULL)
    reader = None
    try:
        m = re.match(r"^listening on (http://\S+)", replay.stdout.readline().decode())
        deadline = time.monotonic() + 30
        while _lines(sink_out) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        with open(sink_out, encoding="utf-8") as f:
            bound = f.readline().split()
        if not m or len(bound) != 2:
            raise error("spool: rtp-replay or the event sink did not start")
        folder = os.path.join(tmp, "spool")
        shutil.rmtree(folder, ignore_errors=True)
        args = [os.path.join(paths.bin, "rtp-reader"), "--url", f"{m.group(1)}/tweets/1", "--broker", bound[1],
                "--stats-interval-ms", "0", "--metrics-port", "0"] + (["--spool-dir", folder] if spool else [])
        reader_log = os.path.join(tmp, "reader.log")
        reader = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=open(reader_log, "wb"))
        start = time.monotonic()
        deadline = start + 300
        while _lines(sink_out) - 1 < records:
            if time.monotonic() > deadline or reader.poll() is not None:
                raise error(f"spool: {_lines(sink_out) - 1} of {records} records reached the sink")
            time.sleep(0.01)
        wall = time.monotonic() - start
        cpu = _cpu_s(reader.pid)
        reader.terminate()
        reader.wait(60)
        with open(reader_log, encoding="utf-8", errors="replace") as f:
            text = f.read()
        st = re.search(r"spool: (\d+) writes, (\d+) bytes written, (\d+) syncs, (\d+) compactions", text)
        r = {"spool": spool, "records": records, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
             "cpu_us_per_record": round(cpu / records * 1e6, 2)}
        if st:
            w, b, s, c = (int(x) for x in st.groups())
            r.update(writes=w, bytes_written=b, syncs=s, compactions=c, records_per_write=round(records / max(w, 1), 1),
                     bytes_per_record=round(b / records, 1))
        return r
    finally:
        for p in (reader, sink, replay):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        log.close()


def run_spool(paths, data, quick, error):
    """Alternated pairs (without, with) of _once; the best CPU per record of each."""
    loops = 3 if quick else 100
    records = sum(len(ids) for ids in data.streams[0]) * loops
    tmp = tempfile.mkdtemp(prefix="rtp-bench-spool-")
    runs = []
    try:
        for _ in range(1 if quick else 3):
            for spool in (False, True):
                runs.append(_once(paths, loops, records, spool, tmp, error))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    best = {s: min((r for r in runs if r["spool"] == s), key=lambda r: r["cpu_us_per_record"]) for s in (False, True)}
    return {"loops": loops, "records": records, "runs": runs,
            "cpu_us_per_record_without": best[False]["cpu_us_per_record"],
            "cpu_us_per_record_with": best[True]["cpu_us_per_record"],
            "cpu_us_per_record_cost": round(best[True]["cpu_us_per_record"] - best[False]["cpu_us_per_record"], 2),
            "records_per_write": best[True].get("records_per_write"),
            "bytes_per_record": best[True].get("bytes_per_record"),
            "syncs": best[True].get("syncs"), "wall_s_with": best[True]["wall_s"],
            "wall_s_without": best[False]["wall_s"]}


def print_spool(s):
    print(f"\nspool (one reader, stream 1 x {s['loops']} = {s['records']} records, acknowledged by the event sink; "
          f"best of {len(s['runs']) // 2} alternated pairs)")
    print(f"  reader CPU per record: {s['cpu_us_per_record_without']:.2f} us without the spool, "
          f"{s['cpu_us_per_record_with']:.2f} us with it: cost {s['cpu_us_per_record_cost']:+.2f} us per record")
    print(f"  spool writes: {s['records_per_write']} records per write(), {s['bytes_per_record']} bytes per record "
          f"written (record and acknowledgement entries, compactions), {s['syncs']} fdatasyncs; wall "
          f"{s['wall_s_without']:.2f} s without, {s['wall_s_with']:.2f} s with")
