"""rtp-aggregator + rtp-batcher end to end, with a real redis-server.

The broker does not exist yet, so tests/helpers/parts_feeder stands in for it: it
binds a PUSH socket and sends the PARTs (record, censor, sentiment, engagement, in
shuffled order across events) and DEADLETTERs this test writes into a JSONL script.
Records are made here from data/tweets-a.jsonl and tweets-b.jsonl (retweets give a
second record, so some tweet ids come several times); the test computes every Redis
row it expects on its own and compares them all, key by key and field by field.

Tests:
  - every record stored exactly as expected (tweets, users, sets, sorted sets, dead
    letters), duplicate events stored once, duplicate parts counted; Redis with a
    password and a db number, the password never in the logs;
  - a slow batcher (--write-delay-ms, a test hook) makes the aggregator hold records
    (ready > 0 with credits 0, never more than --max-pending) and push back on the
    feeder, while the batcher never holds more than its window;
  - a cap full of half-done joins (fully shuffled parts) does not deadlock: the
    oldest join is evicted as a dead letter, every record is stored or reported;
  - incomplete joins end up in the deadletter list after the join timeout, and a part
    arriving after that is counted as late;
  - malformed frames on the aggregator's results socket and on its batchers' socket
    are dropped with a warning, and both actors keep working;
  - Redis stopped for a few seconds and restarted on the same port, the batcher's
    journal off (--journal-max-bytes 0): the batcher retries, the aggregator holds,
    nothing is lost;
  - the aggregator killed and restarted: the batcher reconnects with fresh credit;
  - SIGTERM to both actors: everything ready is delivered and written, incomplete
    joins become dead letters, both exit 0.
"""

import json
import os
import random
import urllib.request
import re
import signal
import tempfile
import time

import rtptest as t
from rtptest import check
from rtpredis import RedisServer

BASE_US = 1457504558000000
_dirs = []


def fmt(x):
    """rtp_fmt_double: the shortest %.<p>g that reads back to x; 0 for zeros."""
    if x == 0:
        return "0"
    for p in range(1, 18):
        s = "%.*g" % (p, x)
        if float(s) == x:
            return s
    return "%.17g" % x


def temp_dir():
    d = tempfile.mkdtemp(prefix="rtptest-aggbat-")
    _dirs.append(d)
    return d


# ---- records and what Redis must hold -------------------------------------------

def _text(tw):
    ext = tw.get("extended_tweet")
    if isinstance(ext, dict) and isinstance(ext.get("full_text"), str):
        return ext["full_text"]
    return tw.get("full_text") or tw.get("text") or ""


def _ident(tw):
    return tw.get("id_str") or str(tw["id"])


def load_records(names=("tweets-a.jsonl", "tweets-b.jsonl"), limit=None, seed=7):
    """Records (dicts) for every tweet and retweeted original of the data files, in
    stream order, each with a unique key. Copies of one tweet id carry identical
    values, and every record of one user the same user fields, so the stored rows do
    not depend on which copy is written first. Engagement values are multiples of
    1/256, so user totals are exact in any order."""
    rng = random.Random(seed)
    by_id, users, records = {}, {}, []
    for name in names:
        with open(t.data_path(name), encoding="utf-8") as f:
            for line in f:
                tw = json.loads(line)
                objs = [tw]
                if isinstance(tw.get("retweeted_status"), dict):
                    objs.append(tw["retweeted_status"])
                for obj in objs:
                    ident = _ident(obj)
                    if ident not in by_id:
                        user = obj.get("user") or {}
                        uid = user.get("id_str") or ""
                        if len(by_id) % 40 == 17:
                            uid = ""   # some records without a user
                        if uid and uid not in users:
                            users[uid] = {"user_name": user.get("name") or "",
                                          "screen_name": user.get("screen_name") or "",
                                          "followers": int(user.get("followers_count") or 0)}
                        text = _text(obj)
                        rs = obj.get("retweeted_status")
                        by_id[ident] = {
                            "id": ident, "user_id": uid, "text": text,
                            "hashtags": " ".join(h["text"] for h in (obj.get("entities") or {}).get("hashtags", [])),
                            "created_at": obj.get("created_at") or "", "lang": obj.get("lang") or "",
                            "retweet_of": _ident(rs) if isinstance(rs, dict) else "",
                            "time_ms": int(obj.get("timestamp_ms") or 0),
                            "received_us": BASE_US + len(by_id) * 1000,
                            "censored": re.sub(r"\b[A-Za-z]{4}\b", "****", text),
                            "sentiment": rng.uniform(-5, 5) / rng.randint(1, 30),
                            "engagement": rng.randrange(0, 1024) / 256,
                            **(users[uid] if uid else {"user_name": "", "screen_name": "", "followers": 0}),
                        }
                    rec = dict(by_id[ident])
                    rec["key"] = len(records) + 1
                    rec["seq"] = 1000 + len(records)
                    rec["origin"] = "reader-%d" % (len(records) % 2 + 1)
                    records.append(rec)
                    if limit and len(records) >= limit:
                        return records
    return records


def part_messages(rec, kinds=("record", "censor", "sentiment", "engagement")):
    """The PART directives of one record (only the given kinds)."""
    common = {"type": "part", "key": rec["key"], "seq": rec["seq"], "origin": rec["origin"],
              "received_us": rec["received_us"]}
    out = []
    for kind in kinds:
        m = dict(common, kind=kind)
        if kind == "record":
            m["tweet"] = {k: rec[k] for k in ("id", "user_id", "user_name", "screen_name", "text", "hashtags",
                                              "created_at", "lang", "retweet_of", "followers", "time_ms")}
        elif kind == "censor":
            m["text"] = rec["censored"]
        else:
            m["number"] = rec[kind]
        out.append(m)
    return out


def shuffled_parts(records, rng, kinds=("record", "censor", "sentiment", "engagement")):
    msgs = [m for rec in records for m in part_messages(rec, kinds)]
    rng.shuffle(msgs)
    return msgs


def windowed_parts(records, rng, spread=6):
    """The parts of the records roughly in record order, each part up to `spread`
    records late: what a broker forwarding results as workers finish sends."""
    placed = [(i + rng.uniform(0, spread), m) for i, rec in enumerate(records) for m in part_messages(rec)]
    placed.sort(key=lambda x: x[0])
    return [m for _, m in placed]


def deadletter(key, reason, raw, origin="reader-1", seq=0, received_us=BASE_US):
    """A DEADLETTER directive (raw: bytes) and the entry it must become."""
    msg = {"type": "deadletter", "key": key, "text": reason, "raw_hex": raw.hex(), "origin": origin, "seq": seq,
           "received_us": received_us}
    entry = {"reason": reason, "data": raw.decode("utf-8", "replace"), "origin": origin, "seq": seq,
             "time_ms": received_us // 1000}
    return msg, entry


class Expected:
    """The Redis content a set of stored records must produce (SPEC section 3)."""

    def __init__(self, records):
        self.tweets, self.users, self.user_tweets = {}, {}, {}
        self.times = {}
        for rec in records:
            if rec["id"] in self.tweets:
                continue
            self.tweets[rec["id"]] = {
                "id": rec["id"], "user_id": rec["user_id"], "text": rec["text"], "censored": rec["censored"],
                "sentiment": fmt(rec["sentiment"]), "engagement": fmt(rec["engagement"]),
                "created_at": rec["created_at"], "lang": rec["lang"], "hashtags": rec["hashtags"],
                "retweet_of": rec["retweet_of"]}
            self.times[rec["id"]] = rec["time_ms"] or rec["received_us"] // 1000
            uid = rec["user_id"]
            if uid:
                u = self.users.setdefault(uid, {"id": uid, "name": rec["user_name"],
                                                "screen_name": rec["screen_name"],
                                                "followers": str(rec["followers"]), "sum": 0.0, "count": 0})
                u["sum"] += rec["engagement"]
                u["count"] += 1
                self.user_tweets.setdefault(uid, set()).add(rec["id"])
        self.deadletters = []

    def keys(self):
        keys = {"tweet:" + i for i in self.tweets}
        if self.tweets:
            keys.add("tweets")
        for uid in self.users:
            keys |= {"user:" + uid, "user:%s:tweets" % uid}
        if self.users:
            keys.add("users:engagement")
        if self.deadletters:
            keys.add("deadletter")
        return keys


def check_redis(r, exp):
    """Compares everything in Redis with exp; returns the number of values compared."""
    compared = 0
    keys = set(r.keys())
    missing, extra = exp.keys() - keys, keys - exp.keys()
    check(not missing and not extra, f"keys differ: missing {sorted(missing)[:5]}, unexpected {sorted(extra)[:5]}")
    for ident, row in exp.tweets.items():
        got = r.hgetall("tweet:" + ident)
        check(got == row, f"tweet:{ident} is {got}, expected {row}")
        compared += len(row)
    times = r.zrange_withscores("tweets")
    check(set(times) == set(exp.times), "the tweets sorted set has other members")
    for ident, ms in exp.times.items():
        check(float(times[ident]) == ms, f"tweets score of {ident}: {times[ident]}, expected {ms}")
        compared += 1
    scores = r.zrange_withscores("users:engagement") if exp.users else {}
    check(set(scores) == set(exp.users), "users:engagement has other members")
    for uid, u in exp.users.items():
        row = {k: u[k] for k in ("id", "name", "screen_name", "followers")}
        row["engagement"] = fmt(u["sum"])
        row["tweets"] = str(u["count"])
        got = r.hgetall("user:" + uid)
        check(got == row, f"user:{uid} is {got}, expected {row}")
        check(r.smembers("user:%s:tweets" % uid) == exp.user_tweets[uid], f"user:{uid}:tweets differs")
        check(float(scores[uid]) == u["sum"], f"users:engagement of {uid}: {scores[uid]}, expected {u['sum']}")
        compared += len(row) + 2
    entries = [json.loads(e) for e in r.command("LRANGE", "deadletter", 0, -1)] if exp.deadletters else []
    key = lambda e: json.dumps(e, sort_keys=True)
    check(sorted(map(key, entries)) == sorted(map(key, exp.deadletters)),
          f"deadletter list differs:\n got {sorted(map(key, entries))[:4]}\n expected "
          f"{sorted(map(key, exp.deadletters))[:4]}")
    compared += len(entries)
    return compared


# ---- the processes ---------------------------------------------------------------

STATS = re.compile(r"([a-z_]+)=(-?\d+)")


def stats_lines(proc, label="stats"):
    """Every stats line of a process's log, as dicts of ints, in order."""
    out = []
    for line in proc.stderr_text().splitlines():
        if f"] {label} " in line:
            out.append({k: int(v) for k, v in STATS.findall(line.split(f"] {label} ", 1)[1])})
    return out


def last_stats(proc):
    """The last stats line of a process's log ({} before the first one)."""
    lines = stats_lines(proc)
    return lines[-1] if lines else {}


def batch_lines(batcher):
    """The batcher's per-batch summaries: (records, new, already stored, dead letters)."""
    rx = re.compile(r"^batch \d+: (\d+) records: (\d+) new tweets, (\d+) already stored, (\d+) dead letters; "
                    r"written in [\d.]+ ms$")
    out = []
    for line in batcher.stdout_text().splitlines():
        m = rx.match(line)
        check(m is not None, f"unexpected batcher output line: {line!r}")
        out.append(tuple(int(g) for g in m.groups()))
    return out


class Pipeline:
    """feeder -> rtp-aggregator -> rtp-batcher -> redis-server, over ipc:// in a
    temporary folder."""

    def __init__(self, directives, agg_args=(), bat_args=(), feeder_args=(), redis=None, dir=None, db=0):
        self.dir = dir or temp_dir()
        self.redis = redis or RedisServer().start()
        self.db = db
        self.feed = os.path.join(self.dir, "feed.jsonl")
        with open(self.feed, "w", encoding="utf-8") as f:
            for d in directives:
                f.write(json.dumps(d) + "\n")
        self.results_ep = f"ipc://{self.dir}/results.ipc"
        self.batchers_ep = f"ipc://{self.dir}/batchers.ipc"
        self.feeder = t.Proc("parts_feeder", ["--bind", self.results_ep, "--linger-ms", 300000, *feeder_args,
                                              self.feed], bin_dir=os.path.dirname(t.test_bin_path("parts_feeder")))
        self.feeder.wait_line(r"^bound ")
        self.agg = t.Proc("rtp-aggregator", ["--results", self.results_ep, "--bind", self.batchers_ep,
                                             "--stats-ms", 100, *agg_args])
        # the batcher's journal in this test's folder: a journal a failed run left behind
        # must not be replayed into another test's Redis
        self.journal_dir = os.path.join(self.dir, "journal")
        self.bat = t.Proc("rtp-batcher", ["--aggregator", self.batchers_ep, "--redis-url",
                                          f"{self.redis.url}/{db}", "--stats-ms", 100,
                                          "--journal-dir", self.journal_dir,
                                          # one line per batch: batch_lines reads every batch
                                          "--print-per-second", 0, *bat_args])

    def client(self):
        return self.redis.client(db=self.db)

    def wait_stored(self, exp, timeout):
        """Waits until Redis holds as many tweets and dead letters as exp."""
        with self.client() as r:
            def done():
                return (r.command("ZCARD", "tweets") == len(exp.tweets) and
                        r.command("LLEN", "deadletter") == len(exp.deadletters))
            t.wait_until(done, timeout, f"{len(exp.tweets)} tweets and {len(exp.deadletters)} dead letters in Redis")

    def stop(self):
        codes = (self.bat.stop(10), self.agg.stop(10))
        self.feeder.stop(5)
        self.redis.close()
        return codes


# ---- tests -----------------------------------------------------------------------

def test_every_record_stored():
    rng = random.Random(1)
    records = load_records()
    msgs = shuffled_parts(records, rng)
    # a few duplicate parts (a broker resending), after their originals: the first wins
    picks = sorted(rng.sample(range(len(msgs)), 25), reverse=True)
    for i in picks:
        d = dict(msgs[i])
        if d["kind"] == "censor":
            d["text"] = "a different censored text"
        elif d["kind"] in ("sentiment", "engagement"):
            d["number"] = 12345.5
        msgs.insert(rng.randrange(i + 1, len(msgs) + 1), d)
    dups = picks
    # the broker's own dead letters, one with bytes that are not UTF-8 and a NUL
    exp = Expected(records)
    for i, (reason, raw) in enumerate([("panic", b'{"message": panic}'),
                                       ("malformed event: invalid UTF-8", b'{"a": "\xff\xfe x \xc0\x80 \x00 \xc3\xa9"}'),
                                       ("malformed event: not JSON", b'\n\t"quoted"\\')]):
        msg, entry = deadletter(900000 + i, reason, raw, seq=50 + i, received_us=BASE_US + i * 1000)
        msgs.insert(rng.randrange(len(msgs)), msg)
        exp.deadletters.append(entry)

    # a password and a db number; the password never shows in the logs
    p = Pipeline(msgs, redis=RedisServer(password="s3cret-pw").start(), db=3, agg_args=("--metrics-port", 0))
    p.wait_stored(exp, 60)
    p.feeder.wait_line(r"^done \d+ messages$", 10)
    with p.client() as r:
        compared = check_redis(r, exp)
    with p.redis.client(db=0) as r0:
        check(r0.command("DBSIZE") == 0, "rows written outside db 3")
    check(f"redis://:***@127.0.0.1:{p.redis.port}/3" in p.bat.stderr_text(), "the URL is not logged masked")
    check("s3cret" not in p.bat.stderr_text() + p.bat.stdout_text(), "the password shows in the output")
    # the same counts seen from the actors
    t.wait_until(lambda: last_stats(p.agg).get("sent") == len(records) + 3, 10,
                 "the aggregator's stats to show everything sent")
    st = stats_lines(p.agg)[-1]
    check(st["joined"] == len(records), f"joined {st['joined']}, expected {len(records)}")
    check(st["duplicates"] == len(dups), f"duplicates {st['duplicates']}, expected {len(dups)}")
    check(st["deadletters"] == 3 and st["incomplete"] == 0 and st["pending"] == 0, f"stats {st}")
    # and from its /metrics
    url = re.search(r"metrics on (http://\S+/metrics)", p.agg.stderr_text()).group(1)
    with urllib.request.urlopen(url, timeout=10) as resp:
        page = resp.read().decode("utf-8")
    scraped = {ln.split(" ")[0]: float(ln.split(" ")[1]) for ln in page.splitlines() if ln and ln[0] != "#"}
    for name, want in (("rtp_aggregator_joined_total", st["joined"]), ("rtp_aggregator_sent_total", st["sent"]),
                       ("rtp_aggregator_dead_letters_total", 3), ("rtp_aggregator_duplicate_parts_total", len(dups)),
                       ("rtp_aggregator_incomplete_joins_total", 0), ("rtp_aggregator_pending_joins", 0),
                       ("rtp_aggregator_batchers", 1)):
        check(scraped.get(name) == want, f"{name} = {scraped.get(name)}, expected {want}")
    batches = batch_lines(p.bat)
    total = [sum(b[i] for b in batches) for i in range(4)]
    check(total == [len(records) + 3, len(exp.tweets), len(records) - len(exp.tweets), 3],
          f"batch totals {total}")
    check(all(b[0] <= 100 for b in batches), "a batch larger than --batch-size")
    window = stats_lines(p.bat)[-1]["window"]
    check(max(s["max_held"] for s in stats_lines(p.bat)) <= window, "the batcher held more than its window")
    codes = p.stop()
    check(codes == (0, 0), f"exit codes (batcher, aggregator) {codes}")
    no_user = sum(1 for row in exp.tweets.values() if not row["user_id"])
    retweets = sum(1 for row in exp.tweets.values() if row["retweet_of"])
    print(f"{len(records)} records ({len(msgs)} messages, {len(dups)} duplicate parts) -> {len(exp.tweets)} "
          f"tweets ({no_user} without a user, {retweets} retweets), {len(exp.users)} users, 3 dead letters; "
          f"{len(batches)} batches; {compared} values compared")


def test_time_window_counts_from_the_reader():
    """--batch-ms bounds a record's way from its reader to Redis, not only its wait in
    the batcher: the time it spent on the way (its received_us, by the wall clock) is
    taken off its window, at most a quarter of it. These records were received long
    ago (BASE_US), so a lone partial batch of them leaves a quarter early: about 12 s
    into a 16 s window, not after 16 s. (Generous margins, 4 s below and 3 s above, so
    that a busy machine cannot blur the two rules: this checks which rule is applied,
    not how fast.)"""
    records = load_records(limit=5)
    msgs = [m for rec in records for m in part_messages(rec)]
    p = Pipeline(msgs, bat_args=["--batch-size", 1000, "--batch-ms", 16000])
    exp = Expected(records)
    p.feeder.wait_line(r"^done \d+ messages$", 10)
    fed = time.monotonic()
    p.wait_stored(exp, 40)
    took = time.monotonic() - fed
    codes = p.stop()
    print(f"{len(records)} records received long ago, window 16 s: stored {took:.2f} s after they were fed")
    check(8.0 <= took <= 15.0, f"a quarter of the 16 s window taken off (expected about 12 s): {took:.2f} s")
    check(codes == (0, 0), f"exit codes (batcher, aggregator) {codes}")


def test_slow_batcher_pushes_back():
    rng = random.Random(2)
    # more parts than socket buffers and high-water marks can hold, so the feeder
    # can only finish if the aggregator keeps reading
    records = load_records(limit=800)
    exp = Expected(records)
    cap = 100
    p = Pipeline(windowed_parts(records, rng),
                 agg_args=["--max-pending", cap, "--rcvhwm", 20],
                 bat_args=["--batch-size", 10, "--batch-ms", 1000, "--write-delay-ms", 50],
                 feeder_args=["--sndhwm", 20])
    # while the batcher is slow, the aggregator holds records it has no credit for,
    # stops reading at the cap, and so the feeder cannot finish
    seen_held = seen_paused = None
    deadline = t.Deadline(60)
    with p.client() as r:
        while r.command("ZCARD", "tweets") < len(exp.tweets):
            deadline.check("all tweets stored")
            lines = stats_lines(p.agg)
            if seen_held is None and any(s["ready"] > 0 and s["credits"] == 0 for s in lines):
                seen_held = next(s for s in lines if s["ready"] > 0 and s["credits"] == 0)
            if seen_paused is None and "not reading from the broker" in p.agg.stderr_text():
                seen_paused = "done " in p.feeder.stdout_text()
            time.sleep(0.05)
        compared = check_redis(r, exp)
    check(seen_held is not None, "the aggregator never showed ready records waiting with 0 credits")
    check(seen_paused is not None, "the aggregator never reached its cap")
    check(seen_paused is False, "the feeder had finished before the aggregator stopped reading (no push back)")
    agg_lines = stats_lines(p.agg)
    worst = agg_lines[-1]["max_held"]
    check(worst <= cap, f"the aggregator held {worst} > --max-pending {cap}")
    check(worst >= cap * 3 // 4, f"the aggregator never came near its cap (held at most {worst})")
    check(agg_lines[-1]["evicted"] == 0 and agg_lines[-1]["incomplete"] == 0, "joins were evicted")
    bat_lines = stats_lines(p.bat)
    window = bat_lines[-1]["window"]
    most = max(s["max_held"] for s in bat_lines)
    check(window == 4 * 10 and most <= window, f"the batcher held {most}, window {window} (4 x its batch of 10)")
    check(all(s["unsolicited"] == 0 for s in bat_lines), "the aggregator sent without credit")
    batches = batch_lines(p.bat)
    check(all(b[0] <= 10 for b in batches), "a batch larger than 10")
    paused = agg_lines[-1]["pauses"]
    codes = p.stop()
    check(codes == (0, 0), f"exit codes {codes}")
    print(f"{len(records)} records through a slow batcher: aggregator held up to {worst} (cap {cap}, paused "
          f"{paused} times; e.g. ready={seen_held['ready']} credits=0), batcher held up to {most} (window {window}), "
          f"{len(batches)} batches, {compared} values compared")


def test_cap_full_of_half_joins_evicts():
    """Fully shuffled parts and a small cap: the cap fills with half-done joins and
    nothing is ready. Stopping to read would wait forever; instead the oldest join is
    evicted as a dead letter. Every record ends up stored or reported."""
    rng = random.Random(8)
    records = load_records(names=("tweets-b.jsonl",), limit=200)
    cap = 50
    p = Pipeline(shuffled_parts(records, rng), agg_args=["--max-pending", cap, "--join-timeout-ms", 60000])
    p.feeder.wait_line(r"^done \d+ messages$", 30)

    def settled():
        s = last_stats(p.agg)
        return s and s["pending"] == 0 and s["ready"] == 0 and s["joined"] + s["evicted"] == len(records)
    t.wait_until(settled, 20, "every record joined or evicted")
    st = stats_lines(p.agg)[-1]
    with p.client() as r:
        t.wait_until(lambda: r.command("LLEN", "deadletter") == st["evicted"], 20, "the dead letters written")
        entries = [json.loads(e) for e in r.command("LRANGE", "deadletter", 0, -1)]
        missing = {}
        for e in entries:
            check(e["reason"].startswith("incomplete join: missing ") and
                  e["reason"].endswith(" (evicted at the --max-pending cap)"), f"reason {e['reason']}")
            data = json.loads(e["data"])
            have = sum(1 for k in ("censored", "sentiment", "engagement") if k in data) + (data["record"] is not None)
            missing[data["key"]] = 4 - have
        check(len(missing) == len(entries), "a key reported twice")
        joined = [rec for rec in records if rec["key"] not in missing]
        check(len(joined) == st["joined"], f"{len(joined)} records not evicted, {st['joined']} joined")
        exp = Expected(joined)
        exp.deadletters = entries
        compared = check_redis(r, exp)
    # the parts of an evicted join that come afterwards are counted as late
    late = sum(missing.values())
    t.wait_until(lambda: last_stats(p.agg).get("late") == late, 10, f"{late} late parts counted")
    worst = last_stats(p.agg)["max_held"]
    check(cap <= worst <= cap + 1, f"held at most {worst}, cap {cap} (+ 1)")
    check(st["evicted"] > 0 and st["incomplete"] == st["evicted"],
          "nothing was evicted: the test did not fill the cap with half joins")
    check("(evicted at the --max-pending cap); sent on as a dead letter" in p.agg.stderr_text(), "no eviction warning")
    codes = p.stop()
    check(codes == (0, 0), f"exit codes {codes}")
    print(f"{len(records)} records, fully shuffled, cap {cap}: {len(joined)} joined and stored, {st['evicted']} "
          f"evicted as dead letters, {late} late parts dropped; held at most {worst}; {compared} values compared")


def test_incomplete_join_becomes_deadletter():
    rng = random.Random(3)
    records = load_records(names=("tweets-a.jsonl",), limit=60)
    complete, broken = records[:50], records[50:53]
    missing = [("sentiment",), ("record",), ("censor", "engagement")]
    msgs = shuffled_parts(complete, rng)
    for rec, gone in zip(broken, missing):
        msgs += part_messages(rec, [k for k in ("record", "censor", "sentiment", "engagement") if k not in gone])
    msgs.append(part_messages(complete[0], ["censor"])[0])   # a duplicate part
    d = temp_dir()
    go = os.path.join(d, "late")
    msgs.append({"type": "wait_file", "path": go, "timeout_ms": 60000})
    msgs += part_messages(broken[0], ["sentiment"])           # arrives after the timeout

    exp = Expected(complete)
    for rec, gone in zip(broken, missing):
        exp.deadletters.append({"reason": "incomplete join: missing " + ",".join(gone), "origin": rec["origin"],
                                "seq": rec["seq"], "time_ms": rec["received_us"] // 1000})
    p = Pipeline(msgs, agg_args=["--join-timeout-ms", 1000])
    p.wait_stored(exp, 30)
    with p.client() as r:
        entries = [json.loads(e) for e in r.command("LRANGE", "deadletter", 0, -1)]
        for e in entries:
            data = json.loads(e.pop("data"))   # what did arrive, for a person to look at
            rec = next(b for b in broken if b["key"] == data["key"])
            if data["record"] is not None:
                check(data["record"]["id"] == rec["id"] and data["record"]["text"] == rec["text"],
                      f"dead letter data {data}")
            else:
                check(data.get("censored") == rec["censored"], f"dead letter data {data}")
        key = lambda e: json.dumps(e, sort_keys=True)
        check(sorted(map(key, entries)) == sorted(map(key, exp.deadletters)),
              f"dead letters {entries}, expected {exp.deadletters}")
        check(set(r.keys()) == exp.keys(), "other keys than expected")
        compared = 0
        for ident, row in exp.tweets.items():
            check(r.hgetall("tweet:" + ident) == row, f"tweet:{ident}")
            compared += len(row)
    log = p.agg.stderr_text()
    for rec, gone in zip(broken, missing):
        ident = rec["id"] if "record" not in gone else "?"
        check(f"key {rec['key']} (tweet {ident}) is missing {','.join(gone)}" in log,
              f"no warning naming key {rec['key']}, tweet {ident} and {gone}")
    open(go, "w").close()
    t.wait_until(lambda: last_stats(p.agg).get("late") == 1, 10, "the late part to be counted")
    st = stats_lines(p.agg)[-1]
    check(st["incomplete"] == 3 and st["duplicates"] == 1 and st["pending"] == 0, f"stats {st}")
    with p.client() as r:
        check(r.command("LLEN", "deadletter") == 3 and r.command("ZCARD", "tweets") == len(exp.tweets),
              "the late part changed Redis")
    codes = p.stop()
    check(codes == (0, 0), f"exit codes {codes}")
    print(f"{len(complete)} complete records stored ({compared} values), 3 incomplete joins as dead letters, "
          f"1 duplicate part, 1 late part")


PUSH_GARBAGE = [["00"],                                   # one frame
                ["5254", "00"],                           # a short header
                ["52546308", ""],                         # protocol version 99
                [t.proto_header(0xff), ""],               # unknown type
                [t.proto_header(0x08), "0001"],           # a PART cut short
                [t.proto_header(0x08), "", "", ""]]       # four frames
ROUTER_GARBAGE = [["ff"],                                 # one frame
                  [t.proto_header(0x09), "00"],           # a JOINED cut short
                  [t.proto_header(0x0a), "0000"]]         # a CREDIT cut short


def test_malformed_frames_dropped():
    rng = random.Random(4)
    records = load_records(names=("tweets-b.jsonl",), limit=120)
    msgs = shuffled_parts(records, rng)
    d = temp_dir()
    batchers_ep = f"ipc://{d}/batchers.ipc"   # where the pipeline's aggregator will bind
    inserts = [{"type": "frames", "frames": f} for f in PUSH_GARBAGE]
    inserts.append({"type": "frames", "frames": [t.proto_header(0x0a), "00000005"]})   # a CREDIT, on the wrong socket
    bad_kind = part_messages(records[0], ["censor"])[0]
    bad_kind["kind"] = "9"
    inserts.append(bad_kind)
    inserts += [{"type": "dealer", "endpoint": batchers_ep, "frames": f} for f in ROUTER_GARBAGE]
    inserts.append({"type": "dealer", "endpoint": batchers_ep, "frames": [t.proto_header(0x0c), "0000000000000000"]})  # ACK
    for ins in inserts:
        msgs.insert(rng.randrange(1, len(msgs)), ins)
    exp = Expected(records)
    p = Pipeline(msgs, dir=d)
    check(p.batchers_ep == batchers_ep, "the pipeline binds where the garbage goes")
    p.wait_stored(exp, 30)
    p.feeder.wait_line(r"^done \d+ messages$", 10)
    t.wait_until(lambda: last_stats(p.agg).get("malformed") == 9, 10,
                 "9 malformed messages counted")
    st = stats_lines(p.agg)[-1]
    check(st["malformed"] == len(PUSH_GARBAGE) + len(ROUTER_GARBAGE), f"malformed {st['malformed']}")
    check(st["unexpected"] == 2 and st["invalid"] == 1, f"unexpected {st['unexpected']}, invalid {st['invalid']}")
    log = p.agg.stderr_text()
    warned = log.count("dropped a malformed message")
    check(warned == 9, f"{warned} malformed-message warnings")
    check("from the broker" in log and "on the batchers' socket" in log, "warnings name the socket")
    check(p.agg.alive() and p.bat.alive(), "an actor died")
    with p.client() as r:
        compared = check_redis(r, exp)
    codes = p.stop()
    check(codes == (0, 0), f"exit codes {codes}")
    print(f"{len(PUSH_GARBAGE)} malformed messages on the results socket, {len(ROUTER_GARBAGE)} on the batchers' "
          f"socket, 2 unexpected types, 1 bad part kind: all dropped with a warning; {len(records)} records "
          f"stored ({compared} values)")


def test_redis_restart_loses_nothing():
    rng = random.Random(5)
    records = load_records(names=("tweets-a.jsonl",), limit=400)
    first, second = records[:150], records[150:]
    d = temp_dir()
    go = os.path.join(d, "go")
    msgs = shuffled_parts(first, rng) + [{"type": "wait_file", "path": go, "timeout_ms": 60000}] + \
        shuffled_parts(second, rng)
    # the journal off: this is the behaviour without one (test_batcher_journal.py has the journal's)
    p = Pipeline(msgs, bat_args=["--batch-size", 20, "--retry-min-ms", 100, "--retry-max-ms", 800,
                                 "--redis-connect-timeout-ms", 300, "--redis-timeout-ms", 1000,
                                 "--journal-max-bytes", 0])
    p.wait_stored(Expected(first), 30)
    with p.client() as r:
        r.command("SAVE")   # the restarted server loads this: Redis keeps its data, as a real one would
    p.redis.stop()
    down_at = time.monotonic()
    open(go, "w").close()
    p.bat.wait_log(r"cannot write a batch of \d+ to Redis \(attempt 1\)", 10)
    # while Redis is away the batcher holds its window and grants nothing; the
    # aggregator holds the rest
    t.wait_until(lambda: any(s["ready"] > 0 and s["credits"] == 0 for s in stats_lines(p.agg)[-3:]), 10,
                 "the aggregator holding records without credit")
    while time.monotonic() - down_at < 3:
        time.sleep(0.1)
    held = stats_lines(p.bat)[-1]
    check(held["held"] == held["window"] and held["healthy"] == 0, f"batcher while Redis is down: {held}")
    waiting = stats_lines(p.agg)[-1]
    p.redis.start()
    exp = Expected(records)
    p.wait_stored(exp, 30)
    with p.client() as r:
        compared = check_redis(r, exp)
    failures = stats_lines(p.bat)[-1]["failed_writes"]
    check(failures >= 2, f"{failures} failed writes")
    p.bat.wait_log(r"Redis is back: the batch went through after \d+ failed attempts", 5)
    total = sum(b[0] for b in batch_lines(p.bat))
    check(total == len(records), f"{total} records in batch summaries, expected {len(records)}")
    codes = p.stop()
    check(codes == (0, 0), f"exit codes {codes}")
    print(f"Redis down ~3 s: {failures} failed writes retried, the batcher held {held['held']} "
          f"(window {held['window']}), the aggregator {waiting['ready']} ready with 0 credits; "
          f"all {len(records)} records stored ({compared} values compared)")


def test_aggregator_restart():
    """The aggregator dies (SIGKILL) and a new one takes its place: the batcher sees
    the connection go, connects again with a fresh window of credit, and the records
    sent after the restart are all stored; it never holds more than its window."""
    rng = random.Random(9)
    records = load_records(names=("tweets-a.jsonl",), limit=300)
    first, second = records[:100], records[100:]
    d = temp_dir()
    go = os.path.join(d, "go")
    msgs = windowed_parts(first, rng) + [{"type": "wait_file", "path": go, "timeout_ms": 60000}] + \
        windowed_parts(second, rng)
    p = Pipeline(msgs, dir=d, bat_args=["--batch-size", 20])
    p.wait_stored(Expected(first), 30)
    p.agg.signal(signal.SIGKILL)
    t.wait_until(lambda: not p.agg.alive(), 10, "the aggregator to die")
    p.bat.wait_log(r"lost the aggregator \(\d+ credits void\); reconnecting", 10)
    p.agg = t.Proc("rtp-aggregator", ["--results", p.results_ep, "--bind", p.batchers_ep, "--stats-ms", 100])
    p.bat.wait_log(r"connected to the aggregator again", 10)
    open(go, "w").close()
    exp = Expected(records)
    p.wait_stored(exp, 30)
    with p.client() as r:
        compared = check_redis(r, exp)
    lines = stats_lines(p.bat)
    check(max(s["max_held"] for s in lines) <= lines[-1]["window"], "the batcher held more than its window")
    check(all(s["unsolicited"] == 0 for s in lines), "records arrived without credit")
    t.wait_until(lambda: last_stats(p.agg).get("sent") == len(second), 5, "the new aggregator's stats")
    check(last_stats(p.agg)["batchers"] == 1, "the new aggregator does not list exactly one batcher")
    codes = p.stop()
    check(codes == (0, 0), f"exit codes {codes}")
    print(f"aggregator killed after {len(first)} records and restarted: the batcher reconnected with fresh "
          f"credit; all {len(records)} records stored ({compared} values compared)")


def test_sigterm_drains():
    rng = random.Random(6)
    records = load_records(names=("tweets-b.jsonl",), limit=300)
    complete, broken = records[:298], records[298:]
    msgs = shuffled_parts(complete, rng)
    for rec in broken:
        msgs += part_messages(rec, ["record", "censor", "sentiment"])
    exp = Expected(complete)
    for rec in broken:
        exp.deadletters.append({"reason": "incomplete join: missing engagement (at shutdown)"})
    p = Pipeline(msgs, agg_args=["--join-timeout-ms", 60000, "--drain-timeout-ms", 15000],
                 bat_args=["--batch-size", 10, "--write-delay-ms", 100, "--drain-ms", 15000])
    t.wait_until(lambda: last_stats(p.agg).get("joined") == len(complete), 20,
                 "every complete record joined")
    before = stats_lines(p.agg)[-1]
    with p.client() as r:
        stored_before = r.command("ZCARD", "tweets")
    p.agg.signal(signal.SIGTERM)
    p.bat.signal(signal.SIGTERM)
    for proc in (p.agg, p.bat):
        t.wait_until(lambda: not proc.alive(), 30, f"{proc.name} to exit after SIGTERM")
    codes = (p.bat.popen.returncode, p.agg.popen.returncode)
    if codes != (0, 0):
        print("aggregator:\n" + p.agg.stderr_text()[-3000:] + "\nbatcher:\n" + p.bat.stderr_text()[-3000:])
    check(codes == (0, 0), f"exit codes after SIGTERM {codes}")
    check(before["ready"] > 0 and stored_before < len(exp.tweets),
          f"nothing was left to drain at SIGTERM (ready {before['ready']}, stored {stored_before})")
    with p.client() as r:
        entries = [json.loads(e) for e in r.command("LRANGE", "deadletter", 0, -1)]
        check(sorted(e["reason"] for e in entries) == [d["reason"] for d in exp.deadletters],
              f"dead letters {entries}")
        check({e["seq"] for e in entries} == {rec["seq"] for rec in broken}, "dead letter seqs")
        compared = 0
        check(r.command("ZCARD", "tweets") == len(exp.tweets), "not every tweet was written before exit")
        for ident, row in exp.tweets.items():
            check(r.hgetall("tweet:" + ident) == row, f"tweet:{ident}")
            compared += len(row)
    final = stats_lines(p.agg, "final stats")[-1]
    check(final["ready"] == 0 and final["pending"] == 0 and final["incomplete"] == 2, f"final stats {final}")
    p.stop()
    print(f"SIGTERM with {before['ready']} records ready and {len(exp.tweets) - stored_before} tweets unwritten: "
          f"all {len(exp.tweets)} tweets written ({compared} values), 2 incomplete joins as dead letters, "
          f"both actors exited 0")


if __name__ == "__main__":
    t.main(globals())
