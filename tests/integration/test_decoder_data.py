#!/usr/bin/env python3
"""The tweet decoder on the bundled data: every record of tweets-a.jsonl,
tweets-b.jsonl and the captured rtp-server events, field by field, against what
this file computes on its own from Python's json module (SPEC sections 1 and 2);
the same for copies of both files with numeric ids only (tests/lib/numeric_ids.py:
ids past 2^53 up to 2^64 - 1, and some that cannot be had exactly, each of which
must make its event a dead letter saying whose id it is); then a set of malformed
events, each of which must be rejected with its reason.

Runs tests/helpers/decode_dump (env RTP_TEST_BIN_DIR) on files in RTP_DATA_DIR.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone

import numeric_ids

BIN_DIR = os.environ.get("RTP_TEST_BIN_DIR", "build/tests")
DATA_DIR = os.environ.get("RTP_DATA_DIR", "data")
DUMP = os.path.join(BIN_DIR, "decode_dump")
SENT_100US = 123  # what decode_dump puts in the wrapper
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
INT64_MAX = 2**63 - 1

failures = []


def fail(msg):
    failures.append(msg)
    if len(failures) <= 30:
        print("FAIL:", msg)


# --- the rules, written independently of the C code ---------------------------


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def count(v):
    """A count: a JSON number truncated toward zero, clamped; anything else is 0."""
    if is_int(v) or (isinstance(v, float) and v == v):
        if v >= 2**63:
            return INT64_MAX
        if v < -(2**63):
            return -(2**63)
        return int(v)
    return 0


def string(obj, key):
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, str) else None


class Inexact(Exception):
    """An id that cannot be had exactly: the event must be rejected saying so."""


def status_id(obj, whose):
    """id_str if non-empty, else the digits of a numeric id (Python reads JSON integers
    exactly) that is a whole number from 0 to 2^64 - 1; None without either. Any other
    number (negative, too big, a fraction or an exponent: a float) raises Inexact."""
    s = string(obj, "id_str")
    if s:
        return s
    v = obj.get("id") if isinstance(obj, dict) else None
    if is_int(v) and 0 <= v < 2**64:
        return str(v)
    if is_int(v) or isinstance(v, float):
        raise Inexact(f"{whose} has no exact id")
    return None


def text_of(t):
    ext = t.get("extended_tweet")
    for v in (string(ext, "full_text"), string(t, "full_text"), string(t, "text")):
        if v is not None:
            return v
    return ""


def hashtags_of(t):
    ent = t.get("entities")
    tags = ent.get("hashtags") if isinstance(ent, dict) else None
    if not isinstance(tags, list):
        return ""
    return " ".join(h["text"] for h in tags if isinstance(h, dict) and isinstance(h.get("text"), str) and h["text"])


def time_of(t):
    ts = t.get("timestamp_ms")
    if isinstance(ts, str) and re.fullmatch(r"[0-9]+", ts) and int(ts) <= INT64_MAX:
        return int(ts)
    if is_int(ts) or isinstance(ts, float):
        return count(ts)
    created = string(t, "created_at")
    if created:
        try:
            dt = datetime.strptime(created, "%a %b %d %H:%M:%S %z %Y")
        except ValueError:
            return 0
        return (dt - EPOCH) // timedelta(milliseconds=1)
    return 0


def record(t, tid, uid, counts_from, retweet_of):
    user = t.get("user") if isinstance(t.get("user"), dict) else {}
    return {
        "id": tid,
        "user_id": uid or "",
        "user_name": string(user, "name") or "",
        "screen_name": string(user, "screen_name") or "",
        "text": text_of(t),
        "hashtags": hashtags_of(t),
        "created_at": string(t, "created_at") or "",
        "lang": string(t, "lang") or "",
        "retweet_of": retweet_of,
        "followers": count(user.get("followers_count")),
        "favorites": count(counts_from.get("favorite_count")),
        "retweets": count(counts_from.get("retweet_count")),
        "time_ms": time_of(t),
    }


def expected_records(tweet):
    """The records of one tweet; raises Inexact for an event to reject."""
    tid = status_id(tweet, "tweet")
    assert tid, "the tweets of the data all have ids"
    uid = status_id(tweet.get("user"), "tweet's user")
    orig = tweet.get("retweeted_status")
    if not isinstance(orig, dict):
        return [record(tweet, tid, uid, tweet, "")]
    oid = status_id(orig, "retweeted original")
    recs = [record(tweet, tid, uid, orig, oid or "")]
    if oid:
        recs.append(record(orig, oid, status_id(orig.get("user"), "retweeted original's user"), orig, ""))
    return recs


# --- running the helper ------------------------------------------------------


def run_dump(path, raw=False, repeat=1):
    args = [DUMP] + (["--raw"] if raw else []) + ["--repeat", str(repeat), path]
    p = subprocess.run(args, capture_output=True, timeout=300)
    if p.returncode != 0:
        fail(f"{' '.join(args)} exited {p.returncode}: {p.stderr.decode(errors='replace')}")
        return [], ""
    out = [json.loads(line) for line in p.stdout.decode("utf-8").splitlines()]
    return out, p.stderr.decode().strip()


def group_by_line(out):
    lines = {}
    for o in out:
        lines.setdefault(o["line"], []).append(o)
    return lines


FIELDS = ["id", "user_id", "user_name", "screen_name", "text", "hashtags", "created_at", "lang", "retweet_of",
          "followers", "favorites", "retweets", "time_ms"]
stats = {"events": 0, "records": 0, "fields": 0, "retweets": 0, "extended": 0, "hashtags": 0, "zero_followers": 0,
         "null_counts": 0, "time_from_created_at": 0, "non_ascii": 0, "control_chars": 0,
         "numeric_ids_past_2^53": 0, "ids_rejected": 0}


def check_event(where, tweet, got, sent_100us):
    """Compares the records decoded from one event with the expected ones."""
    stats["events"] += 1
    try:
        want = expected_records(tweet)
    except Inexact as e:
        stats["ids_rejected"] += 1
        if len(got) != 1 or got[0]["kind"] != "malformed" or not got[0]["reason"].startswith(str(e) + ":"):
            fail(f"{where}: got {got[:1]}, expected a rejection starting {str(e)!r}")
        return
    if len(got) != len(want) or any(g["kind"] != "tweet" for g in got):
        fail(f"{where}: got {[g.get('kind') for g in got]} ({got[0].get('reason', '') if got else ''}), "
             f"expected {len(want)} records")
        return
    for i, (g, w) in enumerate(zip(got, want)):
        stats["records"] += 1
        if g["index"] != i or g["count"] != len(want) or g["sent_100us"] != sent_100us:
            fail(f"{where}[{i}]: index/count/sent_100us {g['index']}/{g['count']}/{g['sent_100us']}")
        for f in FIELDS:
            stats["fields"] += 1
            if g[f] != w[f]:
                fail(f"{where}[{i}] {f}: got {g[f]!r}, expected {w[f]!r}")
        if any(ord(c) > 127 for c in w["text"]):
            stats["non_ascii"] += 1
        if any(c in w["text"] for c in "\t\n\r"):
            stats["control_chars"] += 1
        if w["hashtags"]:
            stats["hashtags"] += 1
        if w["followers"] == 0:
            stats["zero_followers"] += 1
    src = [tweet] + ([tweet["retweeted_status"]] if len(want) == 2 else [])
    stats["retweets"] += len(want) - 1
    for t in src:
        if isinstance(t.get("extended_tweet"), dict):
            stats["extended"] += 1
        if any(k in t and t[k] is None for k in ("favorite_count", "retweet_count")):
            stats["null_counts"] += 1
        if "timestamp_ms" not in t and t.get("created_at"):
            stats["time_from_created_at"] += 1


def check_tweet_file(path, numeric=False):
    """Every line of a tweet file; with `numeric`, a file with no id_str at all."""
    name = os.path.basename(path)
    with open(path, encoding="utf-8") as f:
        tweets = [json.loads(line) for line in f if line.strip()]
    out, rate = run_dump(path, repeat=20)
    print(f"{name}: {rate}")
    lines = group_by_line(out)
    if sorted(lines) != list(range(1, len(tweets) + 1)):
        fail(f"{name}: output covers lines {min(lines, default=0)}..{max(lines, default=0)}, "
             f"expected 1..{len(tweets)}")
    for n, tweet in enumerate(tweets, 1):
        check_event(f"{name}:{n}", tweet, lines.get(n, []), SENT_100US)
        if numeric:
            stats["numeric_ids_past_2^53"] += sum(
                1 for g in lines.get(n, []) if g["kind"] == "tweet"
                for k in ("id", "user_id", "retweet_of") if g[k] and int(g[k]) > 2**53)
    return len(tweets)


def check_numeric_id_files():
    """Both bundled files with numeric ids only, some of them bad (numeric_ids.py)."""
    with tempfile.TemporaryDirectory(prefix="rtp-numeric-ids-") as folder:
        ids = numeric_ids.IdMap()
        bad = 0
        for name in ("tweets-a.jsonl", "tweets-b.jsonl"):
            copy = os.path.join(folder, name)
            bad += len(numeric_ids.convert_file(os.path.join(DATA_DIR, name), copy, bad=True, ids=ids))
            check_tweet_file(copy, numeric=True)
    return bad


def check_captured_events():
    """The captured rtp-server payloads, passed as they came, not re-wrapped."""
    name = "rtp-server-events.jsonl"
    path = os.path.join(DATA_DIR, name)
    with open(path, encoding="utf-8") as f:
        events = [json.loads(line) for line in f if line.strip()]
    out, _ = run_dump(path, raw=True)
    lines = group_by_line(out)
    for n, ev in enumerate(events, 1):
        check_event(f"{name}:{n}", ev["message"]["tweet"], lines.get(n, []), ev["message"]["unix_timestamp_100us"])
    return len(events)


# --- malformed events --------------------------------------------------------


def nested(depth):
    arrays = depth - 3
    return b'{"message": {"tweet": {"id_str": "1", "x": ' + b"[" * arrays + b"]" * arrays + b"}}}"


def tweet_with_text(raw_bytes):
    return b'{"message": {"tweet": {"id_str": "1", "text": "a' + raw_bytes + b'b"}}}'


MALFORMED = [
    # (event data, expected kind, a part of the reason)
    (b'{"message": panic}', "panic", None),
    (b'{ "message" :panic }', "panic", None),
    (b'\t{"message":\r panic}  ', "panic", None),
    (b'{"message": panik}', "malformed", "not JSON"),
    (b'{"message": "panic"}', "malformed", '"message" is not an object'),
    (b"", "malformed", "empty data"),
    (b"not json at all", "malformed", "not JSON: syntax error at byte 0"),
    (b'{"message": {"tweet": {"id_str": "1"}}', "malformed", "not JSON: unexpected end"),
    (b'{"message": {"tweet": {"id_str": "1"}}} trailing', "malformed", "not JSON: trailing bytes"),
    (b'{"message": {"tweet": {"id_str": "1", "text": "a\x00b"}}}', "malformed", "NUL byte in data at byte 48"),
    (b'{"message": {"tweet": {"id_str": "1", "text": "a\\u0000b"}}}', "malformed", "escaped NUL"),
    (tweet_with_text(b"\xc0\xaf"), "malformed", "invalid UTF-8 at byte 48 (overlong encoding)"),
    (tweet_with_text(b"\xe0\x80\xaf"), "malformed", "overlong encoding"),
    (tweet_with_text(b"\xed\xa0\x80"), "malformed", "UTF-16 surrogate"),
    (tweet_with_text(b"\xf4\x90\x80\x80"), "malformed", "above U+10FFFF"),
    (tweet_with_text(b"\x80"), "malformed", "unexpected continuation byte"),
    (tweet_with_text(b"\xe2\x82"), "malformed", "truncated sequence"),
    (b"[1, 2]", "malformed", "the JSON is not an object"),
    (b'{"msg": {}}', "malformed", 'no "message"'),
    (b'{"message": 5}', "malformed", '"message" is not an object'),
    (b'{"message": {"unix_timestamp_100us": 1}}', "malformed", 'no "message.tweet"'),
    (b'{"message": {"tweet": "hi"}}', "malformed", '"message.tweet" is not an object'),
    (b'{"message": {"tweet": {"text": "no id"}}}', "malformed", "tweet has no id"),
    (b'{"message": {"tweet": {"id_str": "", "id": null}}}', "malformed", "tweet has no id"),
    (b'{"message": {"tweet": {"id": 7e18}}}', "malformed",
     "tweet has no exact id: id 7e18 is written with a fraction or an exponent"),
    (b'{"message": {"tweet": {"id": -5}}}', "malformed", "tweet has no exact id: id -5 is negative"),
    (b'{"message": {"tweet": {"id": 18446744073709551616}}}', "malformed", "is above 2^64 - 1"),
    (b'{"message": {"tweet": {"id": 0123}}}', "malformed", "id 0123 is written with a leading zero"),
    (b'{"message": {"tweet": {"id_str": "1", "user": {"id": 1.5}}}}', "malformed",
     "tweet's user has no exact id: id 1.5 is written with a fraction or an exponent"),
    (b'{"message": {"tweet": {"id": 2, "retweeted_status": {"id": 1E3}}}}', "malformed",
     "retweeted original has no exact id"),
    (nested(1001), "malformed", "nested deeper than 1000 levels"),
    (b"[" * 200000, "malformed", "nested deeper than 1000 levels"),
    # valid neighbours of the cases above, so that a decoder rejecting everything fails
    (nested(1000), "tweet", None),
    (tweet_with_text(b"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"), "tweet", None),
    (b'\t{"message": {"tweet": {"id": 7}}}\r', "tweet", None),
    (b'{"message": {"tweet": {"id": 18446744073709551615, "user": {"id": 9007199254740993}}}}', "tweet",
     None),
]


def check_malformed():
    with tempfile.NamedTemporaryFile(suffix=".txt") as f:
        f.write(b"\n".join(data for data, _, _ in MALFORMED) + b"\n")
        f.flush()
        out, _ = run_dump(f.name, raw=True)
    lines = group_by_line(out)
    for n, (data, kind, reason) in enumerate(MALFORMED, 1):
        got = lines.get(n, [])
        what = data[:40]
        if not got or got[0]["kind"] != kind:
            fail(f"malformed case {n} {what!r}: got {got[:1]}, expected kind {kind}")
        elif reason is not None and reason not in got[0].get("reason", ""):
            fail(f"malformed case {n} {what!r}: reason {got[0].get('reason')!r} lacks {reason!r}")
    return len(MALFORMED)


def main():
    if not os.access(DUMP, os.X_OK):
        print(f"FAIL: {DUMP} is not built")
        return 1
    n_a = check_tweet_file(os.path.join(DATA_DIR, "tweets-a.jsonl"))
    n_b = check_tweet_file(os.path.join(DATA_DIR, "tweets-b.jsonl"))
    n_cap = check_captured_events()
    n_bad_ids = check_numeric_id_files()
    n_bad = check_malformed()
    print(f"checked {stats['events']} events ({n_a} + {n_b} tweets, {n_cap} captured events, both files "
          f"again with numeric ids only): "
          f"{stats['records']} records, {stats['fields']} fields")
    print("  of which: " + ", ".join(f"{v} {k}" for k, v in stats.items() if k not in ("events", "records", "fields")))
    print(f"checked {n_bad} malformed/panic/edge events")
    if stats["ids_rejected"] != n_bad_ids:
        fail(f"{stats['ids_rejected']} events with an inexact id checked, {n_bad_ids} written")
    # the data must exercise every rule, or the comparison proves little
    for k in ("retweets", "extended", "hashtags", "zero_followers", "null_counts", "time_from_created_at",
              "non_ascii", "numeric_ids_past_2^53", "ids_rejected"):
        if stats[k] == 0:
            fail(f"no record exercised {k}")
    if failures:
        print(f"{len(failures)} failures")
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
