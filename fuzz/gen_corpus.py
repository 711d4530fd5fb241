#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/{capture,decode,track,windows}/ from the
project's own captures (tests/golden/*/trace.pcap, samples/sample.pcap).

Run from anywhere: python3 fuzz/gen_corpus.py. Deterministic; rewrites the
three folders. Input formats are described in fuzz_targets/*.rs.
"""
import glob
import gzip
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")


def read_pcap(path):
    d = open(path, "rb").read()
    e = "<" if d[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(e + "I", d[20:24])[0]
    frames, o = [], 24
    while o + 16 <= len(d):
        sec, usec, cl, wl = struct.unpack(e + "IIII", d[o:o + 16])
        frames.append((sec * 1_000_000 + usec, wl, d[o + 16:o + 16 + cl]))
        o += 16 + cl
    return linktype, frames


def write_pcap(linktype, frames, big=False, nano=False):
    e = ">" if big else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for ts, wl, data in frames:
        frac = (ts % 1_000_000) * (1000 if nano else 1)
        out += struct.pack(e + "IIII", ts // 1_000_000, frac, len(data), wl) + data
    return out


def write_pcapng(linktype, frames):
    def block(ty, body):
        body += b"\0" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack("<II", ty, n) + body + struct.pack("<I", n)

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", linktype, 0, 0))
    for ts, wl, data in frames:
        out += block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(data), wl) + data)
    return out


def captures():
    paths = sorted(glob.glob(os.path.join(ROOT, "tests/golden/*/trace.pcap")))
    paths.append(os.path.join(ROOT, "samples/sample.pcap"))
    for p in paths:
        name = os.path.basename(os.path.dirname(p)) if p.endswith("trace.pcap") else "sample"
        yield name, p


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- capture: the files themselves, and the other framings of a few ----
def gen_capture():
    for name, p in captures():
        put("capture", name + ".pcap", open(p, "rb").read())
    lt, fr = read_pcap(os.path.join(ROOT, "samples/sample.pcap"))
    put("capture", "sample.pcap.gz", gzip.compress(write_pcap(lt, fr), mtime=0))
    put("capture", "sample.pcapng", write_pcapng(lt, fr))
    lt, fr = read_pcap(os.path.join(ROOT, "tests/golden/tcp-sf/trace.pcap"))
    put("capture", "tcp-sf.be-nano.pcap", write_pcap(lt, fr, big=True, nano=True))
    lt, fr = read_pcap(os.path.join(ROOT, "tests/golden/tcp-ipv6/trace.pcap"))
    put("capture", "tcp-ipv6.pcapng.gz", gzip.compress(write_pcapng(lt, fr), mtime=0))


# ---- windows: a window-size byte, then a classic pcap file ----
def gen_windows():
    # Windows of 40 and 417 bytes: many per file, cut inside records.
    for name, p in list(captures())[:4]:
        data = open(p, "rb").read()
        put("windows", name + ".w40.pcap", b"\x03" + data)
        put("windows", name + ".w417.pcap", b"\x20" + data)
    lt, fr = read_pcap(os.path.join(ROOT, "tests/golden/tcp-sf/trace.pcap"))
    put("windows", "tcp-sf.be-nano.pcap", b"\x05" + write_pcap(lt, fr, big=True, nano=True))
    # A capture of a capture: payloads that are runs of record headers.
    inner = open(os.path.join(ROOT, "samples/sample.pcap"), "rb").read()[24:]
    frames = [(i, inner[(i * 61) % 2000:][:300]) for i in range(12)]
    put("windows", "nested.pcap", b"\x09" + write_pcap(1, [((1_600_000_000 + t) * 1_000_000, len(d), d) for t, d in frames]))


# ---- decode: frames as `sel | caplen | wire delta | time delta | bytes` ----
LT_SEL = {0: 0, 1: 1, 113: 6, 276: 9, 101: 11}


def dframe(lt, data, wire_len=None, dt=0):
    wl = len(data) if wire_len is None else wire_len
    delta = max(-128, min(127, wl - len(data)))
    return struct.pack("<BHbb", LT_SEL[lt], len(data), delta, dt) + data


def ip4_checksum(h):
    s = sum(struct.unpack("!%dH" % (len(h) // 2), h))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def fragments(frame, sizes):
    """Splits the IPv4 packet in an Ethernet frame into fragments."""
    eth, ip = frame[:14], frame[14:]
    ihl = (ip[0] & 15) * 4
    hdr, payload = bytearray(ip[:ihl]), ip[ihl:struct.unpack("!H", ip[2:4])[0]]
    out, off = [], 0
    for i, n in enumerate(sizes + [len(payload)]):
        chunk = payload[off:off + n] if i < len(sizes) else payload[off:]
        more = off + len(chunk) < len(payload)
        h = bytearray(hdr)
        struct.pack_into("!HHH", h, 2, ihl + len(chunk), 0x1234, (0x2000 if more else 0) | off // 8)
        struct.pack_into("!H", h, 10, 0)
        struct.pack_into("!H", h, 10, ip4_checksum(bytes(h)))
        out.append(eth + bytes(h) + chunk)
        off += len(chunk)
        if not more:
            break
    return out


def gen_decode():
    for name, p in captures():
        lt, fr = read_pcap(p)
        if name == "sample":
            # One seed per frame of the sample, which covers the protocols.
            for i, (_, wl, data) in enumerate(fr):
                put("decode", "sample-%02d" % i, b"\0" + dframe(lt, data, wl))
        else:
            put("decode", name, b"\0" + b"".join(dframe(lt, d, wl) for _, wl, d in fr))
    lt, fr = read_pcap(os.path.join(ROOT, "samples/sample.pcap"))
    big = fr[17][2]  # 1400-byte TCP segment
    frags = fragments(big, [512, 512])
    # Out of order, with the `-C` option bit.
    put("decode", "frag4-ooo", b"\1" + b"".join(dframe(1, f) for f in [frags[2], frags[0], frags[1]]))
    syn = fr[2][2]
    ip = syn[14:]
    put("decode", "syn-raw", b"\0" + dframe(101, ip))
    put("decode", "syn-null", b"\0" + dframe(0, struct.pack("<I", 2) + ip))
    sll = struct.pack("!HHH8sH", 0, 1, 6, syn[6:12] + b"\0\0", 0x0800)
    put("decode", "syn-sll", b"\0" + dframe(113, sll + ip))
    sll2 = struct.pack("!HHIHBB8s", 0x0800, 0, 1, 1, 0, 6, syn[6:12] + b"\0\0")
    put("decode", "syn-sll2", b"\0" + dframe(276, sll2 + ip))
    vlan = syn[:12] + struct.pack("!HH", 0x8100, 10) + syn[12:]
    put("decode", "syn-vlan", b"\0" + dframe(1, vlan))


# ---- track: packets as 10-byte records ----
SERVER_PORTS = [80, 22, 53, 123, 40000, 21, 0, 5353]


def parse(frame):
    """(src, dst, proto, sport, dport, flags, seq, ack, plen, win, wscale, l4)."""
    et = struct.unpack("!H", frame[12:14])[0]
    ip = frame[14:]
    if et == 0x0800:
        ihl = (ip[0] & 15) * 4
        src, dst, proto = ip[12:16], ip[16:20], ip[9]
        l4 = ip[ihl:struct.unpack("!H", ip[2:4])[0]]
    elif et == 0x86DD:
        src, dst, proto = ip[8:24], ip[24:40], ip[6]
        l4 = ip[40:40 + struct.unpack("!H", ip[4:6])[0]]
    else:
        return None
    r = dict(src=src, dst=dst, proto=proto, sport=0, dport=0, flags=0, seq=0, ack=0,
             plen=len(l4), win=0, wscale=None, l4=l4)
    if proto == 6:
        sport, dport, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", l4[:16])
        hl = (off >> 4) * 4
        opts, i = l4[20:hl], 0
        while i < len(opts) and opts[i] != 0:
            if opts[i] == 1:
                i += 1
                continue
            if opts[i] == 3:
                r["wscale"] = opts[i + 2]
            i += max(2, opts[i + 1])
        r.update(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags & 0x3F,
                 plen=len(l4) - hl, win=win)
    elif proto == 17:
        sport, dport = struct.unpack("!HH", l4[:4])
        r.update(sport=sport, dport=dport, plen=len(l4) - 8, l4=l4[8:])
    return r


def step(d):
    if d < 0:
        return 0xC0 | min(63, round(-d / 1000))
    if d < 64_000:
        return round(d / 1000)
    if d < 64_000_000:
        return 0x40 | round(d / 1_000_000)
    return 0x80 | min(63, round(d / 60_000_000))


def track_records(frames):
    conns, isn, out, last = {}, {}, b"", None
    for ts, _, data in frames:
        r = parse(data)
        if r is None:
            continue
        a, b = (r["src"], r["sport"]), (r["dst"], r["dport"])
        key = (r["proto"],) + tuple(sorted([a, b]))
        if key not in conns:
            conns[key] = (len(conns), a)
        k, client = conns[key]
        d = 0 if a == client else 1
        if (key, d) not in isn:
            isn[(key, d)] = r["seq"]
        if (key, 1 - d) not in isn and r["flags"] & 0x10:
            isn[(key, 1 - d)] = (r["ack"] - 1) & 0xFFFFFFFF
        server_port = b[1] if d == 0 else a[1]
        pair = 2 if len(r["src"]) == 16 else k % 2
        proto_sel = {6: 0, 17: 2}.get(r["proto"], 3)
        b1 = d | proto_sel << 1 | pair << 3
        sp = SERVER_PORTS.index(server_port) if server_port in SERVER_PORTS else 0
        b2 = (k & 7) | sp << 3
        seq = (r["seq"] - isn[(key, d)]) & 0xFFFF
        ack = (r["ack"] - isn.get((key, 1 - d), r["ack"] - 1)) & 0xFFFF
        plen = 255 if r["plen"] >= 1400 else min(254, r["plen"])
        b3, b4, b5, b9 = r["flags"], seq & 0xFF, seq >> 8, 0
        if r["proto"] == 6:
            b9 = (r["win"] >> 12) << 4 | (8 | r["wscale"] & 7 if r["wscale"] is not None else 0)
        elif r["proto"] == 17:
            b4 = r["l4"][0] if len(r["l4"]) > 0 else 0
            b5 = r["l4"][2] if len(r["l4"]) > 2 else 0
        elif r["proto"] in (1, 58):
            b4, b5, b9 = r["l4"][0], r["l4"][1], 0x80
            plen = min(254, max(0, len(r["l4"]) - 8))
        else:
            b9 = r["proto"] & 0x7F
        dt = 0 if last is None else ts - last
        last = ts
        out += bytes([step(dt), b1, b2, b3, b4, b5, ack & 0xFF, ack >> 8, plen, b9])
    return out


def gen_track():
    for name, p in captures():
        _, fr = read_pcap(p)
        put("track", name, b"\0\0" + track_records(fr))
    _, fr = read_pcap(os.path.join(ROOT, "samples/sample.pcap"))
    # A table of two connections (evictions) with weird.log on.
    put("track", "sample-max2", b"\x0a\x07" + track_records(fr))
    # The sample twice, the second time an hour later (connection reuse).
    recs = track_records(fr)
    put("track", "sample-twice", b"\0\0" + recs + bytes([0x80 | 60]) + recs[1:])


if __name__ == "__main__":
    # Generated seeds are rewritten; `regression-*` seeds (inputs that once
    # found a bug, added by hand) stay.
    for t in ("capture", "decode", "track", "windows"):
        d = os.path.join(OUT, t)
        for f in os.listdir(d) if os.path.isdir(d) else []:
            if not f.startswith("regression-"):
                os.remove(os.path.join(d, f))
    gen_capture()
    gen_windows()
    gen_decode()
    gen_track()
    for t in ("capture", "decode", "track", "windows"):
        print(t, len(os.listdir(os.path.join(OUT, t))), "files")
