"""The C analysis (via tests/helpers/analyze_dump) against the Python reference
(tests/lib/rtp_reference.py) on every tweet and retweeted original of the bundled
data, then on generated tweets built to hit the tricky cases of SPEC section 2
(phrases across any whitespace, overlaps, punctuation, case, non-ASCII, odd counts).
Censored text must match byte for byte, numbers exactly."""

import json
import os
import random
import subprocess
import sys
import tempfile

import rtp_reference as ref

DATA = os.environ.get("RTP_DATA_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "data")
HELPER = os.path.join(os.environ.get("RTP_TEST_BIN_DIR", ""), "analyze_dump")

AFINN = ref.load_afinn(os.path.join(DATA, "emotion_values.txt"))
SWEARS = ref.load_swears(os.path.join(DATA, "swearwords.json"))

failures = []


def fail(msg):
    failures.append(msg)
    if len(failures) <= 20:
        print("FAIL:", msg)


def check_reference():
    """The oracle must itself get the spec's examples right, or agreement means nothing."""
    cases = [
        ("Shit!", "****!", 1),
        ("Jesus, Mary and Joseph!", "*****, **** *** ******!", 4),
        ("jesus\tmary\nand  joseph", "*****\t****\n***  ******", 4),
        ("Jesus, Mary and Bob", "Jesus, Mary and Bob", 0),
        ("holy shit ass", "**** **** ***", 3),
        ("child-fucker!", "************!", 1),
        ("sod off", "*** off", 1),
        ("\u00abshit\u00bb caf\u00e9 shit", "\u00abshit\u00bb caf\u00e9 ****", 1),
    ]
    for text, expected, count in cases:
        got = ref.censor_count(text, SWEARS)
        if got != (expected, count):
            fail("reference censor(%r) = %r, expected %r" % (text, got, (expected, count)))
    for text, expected in [("I LOVE this, it is Good!", 1.0), ("abandon ship now", -2 / 3),
                           ("cool stuff", 0.5), ("...", 0.0), (" \t\n", 0.0)]:
        if ref.sentiment(text, AFINN) != expected:
            fail("reference sentiment(%r) = %r, expected %r" % (text, ref.sentiment(text, AFINN), expected))
    if len(AFINN) != 2477 or len(SWEARS.singles) + len(SWEARS.phrases) != 75:
        fail("reference lists: %d AFINN entries, %d swear entries" %
             (len(AFINN), len(SWEARS.singles) + len(SWEARS.phrases)))
    for x, s in [(0.5, "0.5"), (1 / 3, "0.3333333333333333"), (1.0, "1"), (-0.0, "0"), (-4 / 3, "-1.3333333333333333")]:
        if ref.fmt_number(x) != s:
            fail("fmt_number(%r) = %r, expected %r" % (x, ref.fmt_number(x), s))


def run_helper(path):
    proc = subprocess.run([HELPER, path, "--afinn", os.path.join(DATA, "emotion_values.txt"),
                           "--swears", os.path.join(DATA, "swearwords.json")],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if proc.returncode != 0:
        fail("analyze_dump %s exited %d: %s" % (path, proc.returncode, proc.stderr.decode(errors="replace")))
        return []
    return [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]


def compare(path, label):
    """Compares C and Python on every record of a .jsonl file; returns counts."""
    expected = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                expected.extend(ref.records_of(json.loads(line), AFINN, SWEARS))
    got = run_helper(path)
    if len(got) != len(expected):
        fail("%s: %d records from C, %d from Python" % (label, len(got), len(expected)))
    stats = dict(records=0, starred_records=0, starred_words=0, phrase_records=0, sentiment_nonzero=0,
                 engagement_nonzero=0, mismatches=0)
    for c, py in zip(got, expected):
        stats["records"] += 1
        problems = []
        if c["id"] != py["id"]:
            problems.append("id %r != %r" % (c["id"], py["id"]))
        if c["censored"] != py["censored"]:
            problems.append("censored %r != %r" % (c["censored"], py["censored"]))
        if c["starred"] != py["starred"]:
            problems.append("starred %r != %r" % (c["starred"], py["starred"]))
        for field in ("sentiment", "engagement"):
            if float(c[field]) != py[field] or c[field] != ref.fmt_number(py[field]):
                problems.append("%s %s != %r" % (field, c[field], py[field]))
        if problems:
            stats["mismatches"] += 1
            fail("%s id %s (text %r): %s" % (label, py["id"], py["text"], "; ".join(problems)))
        if py["starred"]:
            stats["starred_records"] += 1
            stats["starred_words"] += py["starred"]
            single = ref.censor_count(py["text"], ref.Swears(SWEARS.singles, []))[1]
            if single != py["starred"]:
                stats["phrase_records"] += 1
        stats["sentiment_nonzero"] += py["sentiment"] != 0
        stats["engagement_nonzero"] += py["engagement"] != 0
    print("%s: %s" % (label, ", ".join("%s=%d" % kv for kv in stats.items())))
    return stats


def s_word(rng, vocab):
    word = rng.choice(vocab)
    r = rng.random()
    if r < 0.2:
        word = word.upper()
    elif r < 0.35:
        word = word.capitalize()
    if rng.random() < 0.3:
        word = "".join(rng.choice(ref.PUNCTUATION.decode()) for _ in range(rng.randint(1, 3))) + word
    if rng.random() < 0.4:
        word += "".join(rng.choice(ref.PUNCTUATION.decode()) for _ in range(rng.randint(1, 3)))
    return word


def synthetic_tweets(rng, count):
    """Tweets whose texts mix swear words, phrases (whole, partial, overlapping),
    AFINN words, punctuation, every ASCII whitespace, and non-ASCII look-alikes."""
    afinn_words = [k.decode("utf-8", "replace") for k in AFINN if b" " not in k]
    phrase_words = sorted({k.decode() for p in SWEARS.phrases for k in p})
    vocab = (sorted(k.decode() for k in SWEARS.singles) * 3 + phrase_words * 2 + rng.sample(afinn_words, 300) +
             ["x", "the", "a", "of", "...", "-", "#", "@user", "caf\u00e9", "\u00abshit\u00bb", "shit\u2026",
              "\U0001F600", "na\u00efve", "\u00c9COLE", "child", "fucker", "sod", "off", "don't", "it's", "h."])
    seps = [" ", " ", " ", "  ", "\t", "\n", "\r\n", "\v", "\f", "\r", " \t ", "\u00a0", "\u3000"]
    tweets = []
    for i in range(count):
        parts = []
        for _ in range(rng.randint(0, 14)):
            r = rng.random()
            if r < 0.15:
                phrase = rng.choice(SWEARS.phrases)
                keys = [k.decode() for k in phrase]
                if rng.random() < 0.25:   # a partial phrase
                    keys = keys[:rng.randint(1, len(keys) - 1)]
                parts.extend(s_word(rng, [k]) if rng.random() < 0.5 else k for k in keys)
            else:
                parts.append(s_word(rng, vocab))
        text = ""
        for j, part in enumerate(parts):
            text += (rng.choice(seps) if j or rng.random() < 0.2 else "") + part
        if rng.random() < 0.2:
            text += rng.choice(seps)
        tweet = {"id_str": str(9000000000000000000 + i), "user": {"id_str": str(i % 97)}}
        where = rng.random()
        if where < 0.2:
            tweet["extended_tweet"] = {"full_text": text}
            tweet["text"] = text[:20]
        elif where < 0.3:
            tweet["full_text"] = text
            tweet["text"] = "not this one"
        elif where < 0.35:
            tweet["extended_tweet"] = {"full_text": None}
            tweet["text"] = text
        else:
            tweet["text"] = text
        for field in ("favorite_count", "retweet_count"):
            tweet[field] = rng.choice([0, 1, 7, 12345, None, None]) if rng.random() < 0.9 else "5"
        tweet["user"]["followers_count"] = rng.choice([0, -1, 1, 3, 7, 1000, 9876543, None])
        if rng.random() < 0.15:
            tweet["retweeted_status"] = {"id_str": str(8000000000000000000 + i), "text": text[::-1],
                                         "favorite_count": rng.choice([0, 3, None, 100]),
                                         "retweet_count": rng.choice([0, 2, None]),
                                         "user": {"id_str": "5", "followers_count": rng.choice([0, 9, 77])}}
        if rng.random() < 0.1:
            del tweet["id_str"]
            tweet["id"] = 1000 + i
        tweets.append(tweet)
    return tweets


def main():
    if not os.path.isfile(HELPER):
        print("FAIL: no helper at %s (set RTP_TEST_BIN_DIR)" % HELPER)
        return 1
    check_reference()
    total = dict(records=0, starred_records=0, starred_words=0, phrase_records=0)
    real = {}
    for name in ("tweets-a.jsonl", "tweets-b.jsonl"):
        stats = compare(os.path.join(DATA, name), name)
        real[name] = stats
        for k in total:
            total[k] += stats[k]
    if total["starred_records"] == 0:
        fail("the bundled data starred no words: censoring was not exercised")
    if total["records"] < 913:
        fail("only %d records from the 913 bundled tweets" % total["records"])

    rng = random.Random(20160101)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "synthetic.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for i, tweet in enumerate(synthetic_tweets(rng, 4000)):
                f.write(json.dumps(tweet, ensure_ascii=bool(i % 2)) + "\n")
        synth = compare(path, "synthetic")
    if synth["phrase_records"] < 100 or synth["starred_records"] < 1000:
        fail("the synthetic tweets did not exercise phrases/starring enough: %r" % synth)

    print("bundled data: %d records compared, %d with starred words (%d words, %d via phrases)" %
          (total["records"], total["starred_records"], total["starred_words"], total["phrase_records"]))
    print("synthetic: %d records compared, %d with starred words (%d words, %d via phrases)" %
          (synth["records"], synth["starred_records"], synth["starred_words"], synth["phrase_records"]))
    if failures:
        print("%d failures" % len(failures))
        return 1
    print("all equal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
