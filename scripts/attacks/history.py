# Items 4 and 5 of issue 14 over real sockets: the cost of CHATHISTORY LATEST * * 100
# with 12,800 direct-message entries, and the memory a tag-heavy flood pins.
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from irc import *
binary = sys.argv[1]
cfg = '[limits]\nexempt=["127.0.0.1"]\nmax_per_ip=1000\n[flood]\nenabled=false\n[accounts]\nargon2_memory_kib=1024\nargon2_iterations=1\n'
TAGS = "@+example.org/blob=" + "t" * 4000 + " "
CAPS = "batch server-time message-tags draft/chathistory"

def end_of_batch(l): return " BATCH -" in l or l.startswith("BATCH -")

s = Server(binary, cfg)
r = Client(s.port); r.send("REGISTER victim * victim-password"); r.until(lambda l: "REGISTER" in l)
me = Client(s.port); me.register("victim", caps=CAPS, password="victim:victim-password")
rss_start = s.rss(); partners = []
for i in range(64):
    c = Client(s.port); c.register(f"p{i}")
    c.sendraw("".join(f"{TAGS}PRIVMSG victim :message {j} from partner {i}\r\n" for j in range(200)).encode()); c.sync()
    partners.append(c); me.sync("p%d" % i)
me.s.setblocking(True)
# drain what the partners sent
me.sync("drained")
rss_dm = s.rss()
cpu0 = s.cpu(); N = 200
for k in range(N):
    me.send("CHATHISTORY LATEST * * 100"); lines = me.until(end_of_batch)
cpu_q = (s.cpu() - cpu0) / N
conns = [Client(s.port) for _ in range(16)]
for i, c in enumerate(conns): c.register(f"victim{i}", caps=CAPS, password="victim:victim-password")
hwm0 = int([l for l in open(f"/proc/{s.pid}/status") if l.startswith("VmHWM")][0].split()[1])
rss0 = s.rss(); cpu0 = s.cpu()
for c in conns: c.send("CHATHISTORY LATEST * * 100")
for c in conns: c.until(end_of_batch)
hwm1 = int([l for l in open(f"/proc/{s.pid}/status") if l.startswith("VmHWM")][0].split()[1])
cpu16 = s.cpu() - cpu0
print(f"item 4: {binary}")
print(f"  12,800 DM entries with 4 KiB tags: RSS +{(rss_dm-rss_start)/1024:.1f} MiB")
print(f"  LATEST * * 100: {cpu_q*1000:.1f} ms CPU per query ({len(lines)-2} lines); 16 at once: {cpu16*1000:.0f} ms CPU, peak RSS +{max(0,hwm1-hwm0)/1024:.1f} MiB")
# item 5: one client floods 100 channels with 1000 messages carrying 4 KiB of
# client tags each, on a fresh server.
s.stop(); s = Server(binary, cfg)
TAGS5 = "@+example.org/blob=" + "t" * 4000 + ";+draft/reply=abcdef0123 "
f = Client(s.port); f.register("flooder")
rss0 = s.rss(); cpu0 = s.cpu()
for ch in range(100):
    f.send(f"JOIN #f{ch}"); f.until(lambda l: " 366 " in l)
    for k in range(4):
        f.sendraw("".join(f"{TAGS5}PRIVMSG #f{ch} :flood {j} {'z'*100}\r\n" for j in range(250)).encode())
    f.sync()
print(f"item 5: 100 channels x 1000 messages with 4 KiB tags: RSS +{(s.rss()-rss0)/1024:.0f} MiB")
s.stop()
