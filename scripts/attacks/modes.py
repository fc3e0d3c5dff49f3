# Issue 14 items 3 and 13 over real sockets: a channel with 100 bans; 16
# connections from one IP that are not in it each send one `MODE #c bbb...b`
# (a 506-byte line). The reply bytes one of them gets, the server's CPU, and its
# peak RSS growth. Then what a non-member learns from MODE on a secret channel.
import os, sys, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from irc import *
binary = sys.argv[1]
cfg = '[limits]\nexempt=["127.0.0.1"]\nmax_per_ip=1000\n[flood]\nenabled=false\n'
s = Server(binary, cfg)
op = Client(s.port); op.register("op")
op.send("JOIN #c"); op.until(lambda l: " 366 " in l)
for i in range(0, 100, 4):
    op.send("MODE #c +bbbb " + " ".join(f"ban{i + k}!*@host{i + k}.example" for k in range(4)))
op.sync()
attackers = [Client(s.port) for _ in range(16)]
for i, c in enumerate(attackers): c.register(f"x{i}")
line = "MODE #c " + "b" * 498
hwm = lambda: int([l for l in open(f"/proc/{s.pid}/status") if l.startswith("VmHWM")][0].split()[1])
got = [0] * 16
closed = [False] * 16
def read(i, c):
    c.s.settimeout(30)
    try:
        c.send(line); c.send("PING :done")
        buf = b""
        while b"PONG" not in buf[-200:]:
            d = c.s.recv(1 << 20)
            if not d:
                closed[i] = True; break
            got[i] += len(d); buf = buf[-200:] + d
    except OSError:
        closed[i] = True
cpu0, hwm0 = s.cpu(), hwm()
ts = [threading.Thread(target=read, args=(i, c)) for i, c in enumerate(attackers)]
[t.start() for t in ts]; [t.join() for t in ts]
print(f"{binary}: 16 non-members x one MODE #c b*498 with 100 bans: {sum(got)/16/1e6:.2f} MB of replies each "
      f"({sum(closed)} cut off by the sendq), server CPU {1000*(s.cpu()-cpu0):.0f} ms, peak RSS +{(hwm()-hwm0)/1024:.0f} MiB")
op.send("MODE #c +s"); op.sync()
spy = Client(s.port); spy.register("spy")
spy.send("MODE #c"); spy.send("MODE #c b")
seen = [l for l in spy.sync("spy") if spy.cmd(l) != "PONG"]
print(f"  a non-member's MODE #c and MODE #c b on a +s channel: {len(seen)} lines, e.g. {seen[:2]}")
s.stop()
