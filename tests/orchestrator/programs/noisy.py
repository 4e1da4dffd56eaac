"""A `command` program that prints every kind of line a buggy producer can: records, text,
garbage, a 10 MB line, invalid UTF-8, NaN, half-written JSON."""

import json
import sys

out = sys.stdout.buffer
out.write(b"starting up\n")
out.write(json.dumps({"type": "meta", "config": {"lr": 0.1}, "producer": "noisy"}).encode() + b"\n")
for i in range(20):
    out.write(json.dumps({"type": "episode", "episode_return": float(i), "length": 5, "env_steps": 5 * (i + 1),
                          "episode": i}).encode() + b"\n")
    out.write(json.dumps({"type": "metrics", "env_steps": 5 * (i + 1), "loss": 1.0 / (i + 1)}).encode() + b"\n")
    if i == 3:
        out.write(b"\x00\x01 binary garbage \xfe\xff\n")
    if i == 5:
        out.write(b"x" * (10 * 1024 * 1024) + b"\n")  # a 10 MB line of text
    if i == 7:
        out.write(b'{"type": "episode", "return": \xff\xfe}\n')  # invalid UTF-8 inside a record
    if i == 9:
        out.write(b'{"type": "metrics", "env_steps": 50, "loss": NaN}\n')
    if i == 11:
        out.write(b'{"type": "episode", "return": 1.0, "len')  # half-written, then a newline later
        out.write(b"\n")
    if i == 13:
        out.write(b'{"' + b"a" * (10 * 1024 * 1024) + b'": 1}\n')  # a 10 MB record-like line
    out.flush()
sys.stderr.write("done, with a warning on stderr\n")
out.write(b"no newline at the very end")
