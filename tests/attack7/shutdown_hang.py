#!/usr/bin/env python3
"""attack7 #2: a frontend keeps the host from exiting.

`guestmm host --listen S --duration 2` should stop after 2 s.  The frontend
sends one loopback TCP socket with SO_LINGER {1, LINGER} as a call
descriptor and keeps the socket's peer open.  The host's reaper is asleep
in that close; at exit vhost_user_server_destroy() -> fd_reaper_stop()
joins the reaper, so the host exits only when the linger runs out (or the
frontend lets go).  With the userfaultfd inode-lock attack of
test_containment the serving thread itself never returns and the join
(vu_loop_destroy) waits forever.

Usage: python3 tests/attack7/shutdown_hang.py [LINGER_S]   (default 20)
"""
import os, socket, struct, subprocess, sys, tempfile, time
import vu

linger = int(sys.argv[1]) if len(sys.argv) > 1 else 20
d = tempfile.mkdtemp()
path = os.path.join(d, "b.sock")
t0 = time.time()
host = subprocess.Popen([vu.guestmm(), "host", "--listen", path,
                         "--duration", "2", "--quiet"])
s = vu.connect(path)
vu.hello(s)
c, peer = vu.lingering_socket(linger)
# queue 0, a descriptor of a kind that is refused: refused or not, it goes
# to the reaper, whose close of it sleeps.
vu.send(s, vu.SET_VRING_CALL, struct.pack("<Q", 0), [c.fileno()],
        vu.NEED_REPLY)
c.close()
print("ack:", vu.recv(s)[1].hex())
rc = host.wait()
t = time.time() - t0
print(f"host exited rc={rc} after {t:.1f} s (asked: 2 s; linger {linger} s)")
peer.close()
sys.exit(0 if t < 5 else 1)
