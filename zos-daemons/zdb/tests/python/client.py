"""zdb driven by Python's redis package (Debian's python3-redis), the client most grid tools
use: key commands, namespaces and their properties, sequential mode, scans and error replies.
Usage: client.py PORT. Exits non-zero with the failed check."""

import sys

import redis

port = int(sys.argv[1])
db = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
# zdb's replies are not redis's (SET answers the key): read them raw, not through redis-py's
# per-command conversions.
db.response_callbacks.clear()


def fails(expect, *command):
    try:
        db.execute_command(*command)
    except redis.ResponseError as e:
        assert expect in str(e), f"{command}: {e!r} lacks {expect!r}"
        return
    raise AssertionError(f"{command} did not fail")


assert db.ping()
# user mode: SET answers the key
assert db.execute_command("SET", "hello", "world") == b"hello"
assert db.get("hello") == b"world"
assert db.exists("hello") == 1
assert db.execute_command("DBSIZE") == 1
assert db.execute_command("MGET", "hello", "nope") == [b"world", None]
assert db.execute_command("CHECK", "hello") == 1
assert db.execute_command("LENGTH", "hello") == 5
assert db.execute_command("DEL", "hello") == b"OK"
assert db.get("hello") is None
fails("Key not found", "DEL", "hello")

# namespaces: create, select, properties, listing
assert db.execute_command("NSNEW", "py-ns") == b"OK"
fails("This namespace is not available", "NSNEW", "py-ns")
assert b"py-ns" in db.execute_command("NSLIST")
assert db.execute_command("NSSET", "py-ns", "maxsize", "100") == b"OK"
info = db.execute_command("NSINFO", "py-ns").decode()
assert "name: py-ns" in info and "data_limits_bytes: 100" in info, info
assert db.execute_command("SELECT", "py-ns") == b"OK"
fails("No space left on this namespace", "SET", "big", "x" * 200)
assert db.execute_command("SET", "small", "x") == b"small"
fails("Namespace not found", "SELECT", "no-such-namespace")

# a password-protected private namespace
assert db.execute_command("NSNEW", "py-private") == b"OK"
assert db.execute_command("NSSET", "py-private", "password", "secret") == b"OK"
assert db.execute_command("NSSET", "py-private", "public", "0") == b"OK"
fails("Namespace protected and private", "SELECT", "py-private")
assert db.execute_command("SELECT", "py-private", "secret") == b"OK"

# scans over a few keys
db.execute_command("SELECT", "default")
for i in range(5):
    db.execute_command("SET", f"k{i}", f"v{i}")
reply = db.execute_command("SCAN")
keys = [entry[0] for entry in reply[1]]
assert b"k0" in keys, reply

# pipelining through the client library
pipe = db.pipeline(transaction=False)
for i in range(100):
    pipe.execute_command("SET", f"p{i}", str(i))
pipe.execute()
assert db.get("p42") == b"42"
print("python redis client: ok")
