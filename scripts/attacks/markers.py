# Issue 14 item 6 over a real socket: 20 accounts each set 1000 read markers
# for made-up 190-character targets; the server's RSS growth and how many were kept.
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from irc import *
binary = sys.argv[1]
cfg = '[limits]\nexempt=["127.0.0.1"]\n[flood]\nenabled=false\n[accounts]\nargon2_memory_kib=1024\nargon2_iterations=1\n'
s = Server(binary, cfg)
clients = []
for a in range(20):
    c = Client(s.port); c.send(f"REGISTER acct{a} * acct-password-{a}"); c.until(lambda l: "REGISTER" in l)
    c.register(f"acct{a}", caps="draft/read-marker")
    clients.append(c)
rss0 = s.rss()
kept = 0
for a, c in enumerate(clients):
    c.sendraw("".join(f"MARKREAD #{a:03}{i:05}{'x' * 181} timestamp=2021-05-20T08:30:00.000Z\r\n" for i in range(1000)).encode())
    kept += sum(1 for l in c.sync() if c.cmd(l) == "MARKREAD")
print(f"{binary}: 20 accounts x 1000 made-up markers: {kept} kept, RSS +{(s.rss()-rss0)/1024:.1f} MiB")
s.stop()
