#!/usr/bin/env python3
"""mock_hub.py — a stand-in for the Hugging Face Hub, for hearth's pull tests.

    python3 tests/mock_hub.py MODELS_DIR

Listens on an ephemeral port of 127.0.0.1, prints the port on the first line of stdout,
and serves until killed. It speaks the two Hub endpoints hearth uses:

    GET /api/models/ORG/REPO[/revision/REV][?blobs=true]
        {"id", "sha", "cardData": {"license", ...}, "siblings": [{"rfilename", "size",
         "lfs": {"sha256", "size", "pointerSize"}}]}   (lfs only for the model files)
    GET /ORG/REPO/resolve/REV/FILE      the file, honouring "Range: bytes=A-[B]" with 206

Repositories (model files are copies of the fixtures in MODELS_DIR):
    test/tiny-GGUF     tiny-Q4_K_M.gguf, tiny-Q8_0.gguf, tiny-F16.gguf, README.md, LICENSE
    test/gated-GGUF    needs "Authorization: Bearer hf_good": 401 without a token, 403 with
                       another one
    test/bad-GGUF      the advertised sha256 is not the file's (a corrupted mirror)
    test/flaky-GGUF    the first whole-file request is cut off half-way (the connection
                       closes); later requests, with a Range, are served properly
    test/stall-GGUF    sends 1000 bytes, then nothing for a minute
    Qwen/Qwen3-0.6B-GGUF   the default model's repository (holding the tiny Q8_0 fixture)
    test/qwen-GGUF     a model whose header (a 151936-token vocabulary) is several MB
    test/split-GGUF    the small Q4_K_M fixture split in three the way llama.cpp's gguf-split
                       lays parts out (Q4_K_M/split-Q4_K_M-0000N-of-00003.gguf, split here by
                       split_gguf, a GGUF reader of its own), and the tiny Q8_0 as one file
Anything else is 404. GET /_log returns the requests seen so far (path and Range) as JSON.
"""
import hashlib
import http.server
import json
import os
import socket
import struct
import sys
import threading
import time

APACHE = b"\n                                 Apache License\n" \
         b"                           Version 2.0, January 2004\n"


def load(models, name):
    with open(os.path.join(models, name), "rb") as f:
        return f.read()


SCALAR_SIZE = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def split_gguf(data, n):
    """Cut a GGUF file into n parts as gguf-split does: all metadata and split.no,
    split.count (u16) and split.tensors.count (i32) in the first, the tensors in n runs."""
    pos = 0

    def take(k):
        nonlocal pos
        pos += k
        return data[pos - k:pos]

    def u32():
        return struct.unpack("<I", take(4))[0]

    def u64():
        return struct.unpack("<Q", take(8))[0]

    def value(t):
        if t == 8:
            take(u64())
        elif t == 9:
            et, count = u32(), u64()
            for _ in range(count):
                value(et)
        else:
            take(SCALAR_SIZE[t])

    assert take(4) == b"GGUF"
    version, n_tensors, n_kv = u32(), u64(), u64()
    kvs, align = [], 32
    for _ in range(n_kv):
        start = pos
        key = take(u64())
        t = u32()
        vstart = pos
        value(t)
        if key == b"general.alignment":
            align = struct.unpack("<I", data[vstart:vstart + 4])[0]
        kvs.append(data[start:pos])
    infos = []
    for _ in range(n_tensors):
        start = pos
        take(u64())
        dims = u32()
        take(8 * dims + 4)
        infos.append((data[start:pos], u64()))
    base = (pos + align - 1) // align * align
    ends = sorted(o for _, o in infos)[1:] + [len(data) - base]
    size = {o: e - o for o, e in zip(sorted(o for _, o in infos), ends)}

    def kv(key, t, fmt, v):
        return struct.pack("<Q", len(key)) + key + struct.pack("<I", t) + struct.pack(fmt, v)

    parts = []
    for i in range(n):
        run = infos[n_tensors * i // n:n_tensors * (i + 1) // n]
        meta = [kv(b"split.no", 2, "<H", i), kv(b"split.count", 2, "<H", n)]
        if i == 0:
            meta = kvs + meta + [kv(b"split.tensors.count", 5, "<i", n_tensors)]
        head = b"GGUF" + struct.pack("<IQQ", version, len(run), len(meta)) + b"".join(meta)
        body, off = b"", 0
        for info, o in run:
            head += info + struct.pack("<Q", off)
            body += data[base + o:base + o + size[o]]
            off += size[o]
        head += b"\0" * (-len(head) % align)
        parts.append(head + body)
    return parts


def build(models):
    q4 = load(models, "tiny-llama-spm-q4_k_m.gguf")
    q8 = load(models, "tiny-llama-spm-q8_0.gguf")
    f16 = load(models, "tiny-llama-spm-f16.gguf")
    card = {"license": "apache-2.0"}
    return {
        "test/tiny-GGUF": {"card": card, "files": {
            "README.md": b"# tiny\n", "LICENSE": APACHE, "tiny-F16.gguf": f16,
            "tiny-Q8_0.gguf": q8, "tiny-Q4_K_M.gguf": q4}},
        "test/gated-GGUF": {"card": {"license": "llama3.2"}, "token": "hf_good",
                            "files": {"gated-Q8_0.gguf": q8}},
        "test/bad-GGUF": {"card": card, "files": {"bad-Q8_0.gguf": q8},
                          "wrong_sha": hashlib.sha256(q8 + b"!").hexdigest()},
        "test/flaky-GGUF": {"card": card, "files": {"flaky-Q8_0.gguf": q8}, "flaky": True},
        "test/stall-GGUF": {"card": card, "files": {"stall-Q8_0.gguf": q8}, "stall": True},
        "Qwen/Qwen3-0.6B-GGUF": {"card": card, "files": {"Qwen3-0.6B-Q8_0.gguf": q8}},
        "test/qwen-GGUF": {"card": card, "files": {
            "qwen-Q8_0.gguf": load(models, "tiny-qwen2-bpe-q8_0.gguf")}},
        "test/split-GGUF": {"card": card, "files": dict(
            [("split-Q8_0.gguf", q8)] +
            [("Q4_K_M/split-Q4_K_M-%05d-of-00003.gguf" % (i + 1), part) for i, part in
             enumerate(split_gguf(load(models, "small-llama-spm-q4_k_m.gguf"), 3))])},
    }


class Hub(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    repos = {}
    log = []
    lock = threading.Lock()
    flaky_cut = set()

    def log_message(self, fmt, *args):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def authorized(self, repo):
        need = repo.get("token")
        if not need:
            return True
        got = self.headers.get("Authorization")
        if got is None:
            self.send_json(401, {"error": "Access to this model is restricted."})
            return False
        if got != "Bearer " + need:
            self.send_json(403, {"error": "Your request to access this repo is awaiting review."})
            return False
        return True

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        with Hub.lock:
            Hub.log.append({"path": path, "range": self.headers.get("Range")})
        if path == "/_log":
            return self.send_json(200, Hub.log)
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            return self.api(parts[2] + "/" + parts[3], parts[4:])
        if len(parts) >= 5 and parts[2] == "resolve":
            return self.resolve(parts[0] + "/" + parts[1], parts[3], "/".join(parts[4:]))
        self.send_json(404, {"error": "Not found"})

    def api(self, name, rest):
        repo = Hub.repos.get(name)
        if repo is None:
            return self.send_json(404, {"error": "Repository not found"})
        if not self.authorized(repo):
            return
        if rest and (rest[0] != "revision" or rest[1:] != ["main"]):
            return self.send_json(404, {"error": "Revision not found"})
        siblings = []
        for fname, data in repo["files"].items():
            s = {"rfilename": fname, "size": len(data), "blobId": hashlib.sha1(data).hexdigest()}
            if fname.endswith(".gguf"):
                sha = repo.get("wrong_sha") or hashlib.sha256(data).hexdigest()
                s["lfs"] = {"sha256": sha, "size": len(data), "pointerSize": 134}
            siblings.append(s)
        self.send_json(200, {"id": name, "sha": "0" * 40, "cardData": repo["card"],
                             "siblings": siblings})

    def resolve(self, name, rev, fname):
        repo = Hub.repos.get(name)
        if repo is None:
            return self.send_json(404, {"error": "Repository not found"})
        if not self.authorized(repo):
            return
        data = repo["files"].get(fname)
        if data is None or rev != "main":
            return self.send_json(404, {"error": "Entry not found"})
        start, end = 0, len(data)
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and "-" in rng:
            first, last = rng[6:].split("-", 1)
            start = int(first)
            if last:
                end = min(int(last) + 1, len(data))
            if start >= len(data) or start >= end:
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, len(data)))
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        body = data[start:end]
        if repo.get("stall"):
            self.wfile.write(body[:1000])
            self.wfile.flush()
            time.sleep(60)
            return
        if repo.get("flaky") and start == 0 and name not in Hub.flaky_cut:
            Hub.flaky_cut.add(name)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # clients hanging up (cut-off and stalled downloads) are part of the tests


def main():
    Hub.repos = build(sys.argv[1])
    server = QuietServer(("127.0.0.1", 0), Hub)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
