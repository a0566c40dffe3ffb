#!/usr/bin/env python3
"""Test vectors for src/python/json.ts, answered by Python's own json module (what MLRun reads
MLRUN_EXEC_CONFIG with: `mlrun run --from-env` calls json.loads on it).

Each line: {"text": ..., "valid": bool, "labels": null | {"mlrun/client_version": V, "mlrun/client_python_version": V}}
where V is {"absent": true}, {"null": true}, {"string": "..."} or {"other": true}, as json.loads(text) followed by
run["metadata"]["labels"][key] gives it ("labels": null when the text is not an object, or metadata or labels is
absent or not an object). Texts nesting deeper than 64 are not generated (the reader refuses them by its own rule).

  python3 scripts/gen-exec-config-vectors.py > test/fixtures/exec-config-python.jsonl

Seeded: the same Python gives the same file. Regenerate only to add cases; the test reads the file as it is.
"""
import json
import random
import sys

KEYS = ["mlrun/client_version", "mlrun/client_python_version"]
rng = random.Random(20261202)

WS = ["", "", "", " ", "\n", "\t", "\r\n  "]


def ws():
    return rng.choice(WS)


def jstr(s):
    """A JSON string for s, sometimes with needless escapes (\\u00xx, \\/), which the reader must decode."""
    out = json.dumps(s, ensure_ascii=rng.random() < 0.3)
    if rng.random() < 0.25 and len(s) > 0:
        i = rng.randrange(len(s))
        c = s[i]
        if c not in '"\\' and ord(c) >= 0x20:
            body = json.dumps(s[:i])[1:-1] + "\\u%04x" % ord(c) + json.dumps(s[i + 1:])[1:-1]
            out = '"' + body + '"'
    if rng.random() < 0.1:
        out = out.replace("/", "\\/")
    return out


def number():
    r = rng.random()
    if r < 0.15:
        return rng.choice(["NaN", "Infinity", "-Infinity"])
    if r < 0.4:
        return str(rng.randint(-1000, 100000))
    if r < 0.6:
        return repr(rng.uniform(-1e3, 1e3))
    if r < 0.7:
        return rng.choice(["0", "-0", "0.5", "1e10", "1E-5", "-2.5e+3", "12345678901234567890"])
    return str(rng.random())


def scalar():
    r = rng.random()
    if r < 0.4:
        return jstr(rng.choice(["", "job", "1.7.0", "3.9.18", "a\"b", "x\\y", "é", "\u2028", "tab\there", "\U0001F600", "/path/x"]))
    if r < 0.75:
        return number()
    return rng.choice(["true", "false", "null"])


def value(depth):
    r = rng.random()
    if depth > 5 or r < 0.5:
        return scalar()
    if r < 0.75:
        return "[" + ws() + ("," + ws()).join(value(depth + 1) + ws() for _ in range(rng.randint(0, 4))) + "]"
    return obj(depth + 1, [rng.choice(["a", "b", "spec", "metadata", "labels", "kind", KEYS[0]]) for _ in range(rng.randint(0, 4))])


def named(names, value_of):
    """An object with a member per name in `names` (repeats allowed), each value written by value_of(name)."""
    return "{" + ws() + ("," + ws()).join(jstr(n) + ws() + ":" + ws() + value_of(n) + ws() for n in names) + "}"


def obj(depth, names):
    return named(names, lambda n: gen_for(n, depth))


def version_value():
    r = rng.random()
    if r < 0.55:
        return jstr(rng.choice(["1.7.0", "1.10.0-rc2", "3.9.18", "", "0.0.0+unstable", "1.6.4\u00e9"]))
    if r < 0.65:
        return "null"
    return value(4)


def gen_for(name, depth):
    if name in KEYS:
        return version_value()
    return value(depth)


def labels_obj():
    names = [rng.choice(["kind", "owner", "host", KEYS[0], KEYS[1], KEYS[rng.randrange(2)]]) for _ in range(rng.randint(0, 6))]
    return named(names, lambda n: version_value() if n in KEYS else scalar())


def members(most, names, inner_name, inner, depth):
    """An object of up to `most` members named from `names`; `inner_name` mostly gets inner(), others value(depth)."""
    parts = []
    for _ in range(rng.randint(0, most)):
        n = rng.choice(names)
        v = inner() if n == inner_name and rng.random() < 0.85 else value(depth)
        parts.append(jstr(n) + ws() + ":" + ws() + v)
    return "{" + ws() + ("," + ws()).join(parts) + ws() + "}"


def metadata_obj():
    return members(5, ["uid", "name", "labels", "labels", "project", "iteration"], "labels", labels_obj, 3)


def run_obj():
    run = members(5, ["spec", "metadata", "metadata", "metadata", "status", "kind"], "metadata", metadata_obj, 1)
    return ws() + run + ws()


def mutate(text):
    """One small change: most make the text invalid, some keep it valid."""
    if not text:
        return text
    i = rng.randrange(len(text))
    r = rng.random()
    if r < 0.3:
        return text[:i] + text[i + 1:]
    if r < 0.6:
        return text[:i] + rng.choice(list('{}[]",:\\ 0-.eEtfnNI\x01\x1f\u00e9')) + text[i:]
    if r < 0.8:
        return text[:i] + rng.choice(list('{}[]",:\\0-.a')) + text[i + 1:]
    return text[:i]


def tag(v, present):
    if not present:
        return {"absent": True}
    if v is None:
        return {"null": True}
    if isinstance(v, str):
        return {"string": v}
    return {"other": True}


def answer(text):
    try:
        run = json.loads(text)
    except (ValueError, RecursionError):
        return {"text": text, "valid": False, "labels": None}
    labels = None
    if isinstance(run, dict) and isinstance(run.get("metadata"), dict) and isinstance(run["metadata"].get("labels"), dict):
        got = run["metadata"]["labels"]
        labels = {k: tag(got.get(k), k in got) for k in KEYS}
    return {"text": text, "valid": True, "labels": labels}


FIXED = [
    "", " ", "{}", "[]", "null", "NaN", "-Infinity", "-NaN", "nan", "infinity", "+1", "01", "1.", ".5", "1e", "-", "--1",
    '{"metadata":{"labels":{"mlrun/client_version":"1.7.0"}}}',
    '{"metadata":{"labels":{"mlrun/client_version":"1.7.0","mlrun/client_version":"1.8.0"}}}',
    '{"metadata":{"labels":{"mlrun/client_version":"1.7.0"}},"metadata":{"labels":{}}}',
    '{"metadata":{"labels":{"mlrun/client_version":"1.7.0"}},"metadata":5}',
    '{"metadata":{"labels":{"mlrun/client_version":"1.7.0"},"labels":null}}',
    '{"metad\\u0061ta":{"l\\u0061bels":{"mlrun\\/client_version":"1.\\u0037.0"}}}',
    '{"metadata":{"labels":{"mlrun/client_version":NaN,"mlrun/client_python_version":"3.9"}},"spec":{"parameters":{"a":NaN,"b":-Infinity,"c":Infinity}}}',
    '{"spec":{"parameters":{"lr":NaN}},"metadata":{"labels":{"mlrun/client_version":"1.9.2"}}}',
    '{"metadata":{"labels":{"mlrun/client_version":"1.9.2"}}} x',
    '{"metadata":{"labels":{"mlrun/client_version":"a\x01b"}}}',
    '{"metadata":{"labels":{"mlrun/client_version":"\\x"}}}',
    '{"metadata":{"labels":{"mlrun/client_version":"\\u12"}}}',
    '{"metadata":{"labels":{"mlrun/client_version":"1.7.0",}}}',
    '{"metadata":{"labels":[{"mlrun/client_version":"1.7.0"}]}}',
    '[{"metadata":{"labels":{"mlrun/client_version":"1.7.0"}}}]',
    '{"metadata":{"labels":{"mlrun/client_version":{"mlrun/client_version":"1"}}}}',
    '{"metadata":{"labels":{"x":{"mlrun/client_version":"1"}}}}',
    '{"x":{"metadata":{"labels":{"mlrun/client_version":"1"}}}}',
    '\ufeff{"metadata":{}}',
    '{"metadata":{"labels":{"mlrun/client_version":"1.7.0"}}}\u00a0',
    '{"metadata" :{ "labels" : { "mlrun/client_version" : "1.7.0" } } }',
    '{"a":tru}', '{"a":nul}', '{"a":falsey}', '{"a":NaNa}', '{"a":Infinit}', '{"a":-Inf}',
    '{"metadata":{"labels":{"mlrun/client_version":"' + "\\ud83d" + '"}}}',
    # CPython's int_max_str_digits (4300 by default): a longer integer raises, a longer float does not.
    '{"metadata":{"labels":{"mlrun/client_version":"1.2"}},"x":' + "1" * 4300 + "}",
    '{"metadata":{"labels":{"mlrun/client_version":"1.2"}},"x":' + "1" * 4301 + "}",
    '{"metadata":{"labels":{"mlrun/client_version":"1.2"}},"x":-' + "1" * 4300 + "}",
    '{"metadata":{"labels":{"mlrun/client_version":"1.2"}},"x":-' + "1" * 4301 + "}",
    '{"metadata":{"labels":{"mlrun/client_version":"1.2"}},"x":' + "1" * 5000 + ".5}",
    '{"metadata":{"labels":{"mlrun/client_version":"1.2"}},"x":' + "1" * 5000 + "e1}",
    # Keys written entirely in \u escapes (six characters per letter): still the same keys.
    "{" + json.dumps("metadata").replace("metadata", "".join("\\u%04x" % ord(c) for c in "metadata")) + ':{"labels":{'
    + '"' + "".join("\\u%04x" % ord(c) for c in "mlrun/client_version") + '":"1.9.2"}}}',
]


def main():
    cases = [answer(t) for t in FIXED]
    seen = set(c["text"] for c in cases)
    while len(cases) < 1500:
        t = run_obj()
        if rng.random() < 0.45:
            t = mutate(t)
            if rng.random() < 0.3:
                t = mutate(t)
        if t in seen or len(t) > 500:
            continue
        seen.add(t)
        cases.append(answer(t))
    for c in cases:
        sys.stdout.write(json.dumps(c, ensure_ascii=True) + "\n")


if __name__ == "__main__":
    main()
