"""A minimal hostile vhost-user frontend (attack7 reproducers)."""
import array, os, socket, struct, subprocess, time

VERSION, REPLY, NEED_REPLY = 1, 4, 8
GET_FEATURES, SET_FEATURES, SET_OWNER, SET_MEM_TABLE = 1, 2, 3, 5
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE = 8, 9, 10
SET_VRING_KICK, SET_VRING_CALL = 12, 13
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES = 15, 16
SET_VRING_ENABLE, SET_BACKEND_REQ_FD = 18, 21
PF_REPLY_ACK = 1 << 3


def connect(path, timeout=10.0):
    end = time.time() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.time() > end:
                raise
            time.sleep(0.05)


def send(s, req, payload=b"", fds=(), flags=0):
    msg = struct.pack("<III", req, VERSION | flags, len(payload)) + payload
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
            array.array("i", fds).tobytes())] if fds else []
    s.sendmsg([msg], anc)


def recv(s, timeout=5.0):
    s.settimeout(timeout)
    hdr = b""
    while len(hdr) < 12:
        c = s.recv(12 - len(hdr))
        if not c:
            raise EOFError("backend closed the connection")
        hdr += c
    req, flags, size = struct.unpack("<III", hdr)
    body = b""
    while len(body) < size:
        body += s.recv(size - len(body))
    return req, body


def hello(s, protocol=PF_REPLY_ACK):
    send(s, SET_OWNER)
    send(s, GET_FEATURES)
    _, f = recv(s)
    send(s, SET_PROTOCOL_FEATURES, struct.pack("<Q", protocol))
    return struct.unpack("<Q", f)[0]


def lingering_socket(linger_s):
    """A loopback TCP socket with SO_LINGER {1, linger_s} and a full send
    queue its peer never reads: its last close() sleeps linger_s."""
    lsn = socket.socket()
    lsn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(1)
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    c.connect(lsn.getsockname())
    peer, _ = lsn.accept()
    lsn.close()
    c.setblocking(False)
    try:
        while True:
            c.send(b"\0" * 4096)
    except BlockingIOError:
        pass
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 struct.pack("ii", 1, linger_s))
    return c, peer


def guestmm():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", "build", "guestmm")
