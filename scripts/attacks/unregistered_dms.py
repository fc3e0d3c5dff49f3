# Issue 14 item 5 (the direct-message cap) over real sockets, against the store
# of conversations with unregistered users: 16 unregistered connections from one
# IP message 10 unregistered users and each other, 200 lines per conversation
# (56 000 lines). Then a logged-in user and a newcomer exchange one message:
# is it kept? And what a direct message costs the server once the store is full.
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from irc import *
binary = sys.argv[1]
cfg = ('[limits]\nexempt=["127.0.0.1"]\nmax_per_ip=1000\n[flood]\nenabled=false\n'
       '[accounts]\nargon2_memory_kib=1024\nargon2_iterations=1\n')
CAPS = "batch server-time message-tags draft/chathistory"
s = Server(binary, cfg)
victims = [Client(s.port) for _ in range(10)]
for i, v in enumerate(victims): v.register(f"v{i}")
attackers = [Client(s.port) for _ in range(16)]
for i, a in enumerate(attackers): a.register(f"x{i}")
flood_cpu0 = s.cpu()
targets = lambda i: [f"v{k}" for k in range(10)] + [f"x{k}" for k in range(i + 1, 16)]
for i, a in enumerate(attackers):
    a.sendraw("".join(f"PRIVMSG {t} :filler {j} {'f' * 60}\r\n" for t in targets(i) for j in range(200)).encode())
    a.sync("a%d" % i)
    for c in victims + attackers: c.buf = b""; c.s.settimeout(0.01)
    for c in victims + attackers:
        try:
            while c.s.recv(1 << 20): pass
        except OSError: pass
flood_cpu = s.cpu() - flood_cpu0
r = Client(s.port); r.send("REGISTER alice * alice-password"); r.until(lambda l: "REGISTER" in l)
alice = Client(s.port); alice.register("alice", caps=CAPS, password="alice:alice-password")
bob = Client(s.port); bob.register("bob")
cpu0 = s.cpu()
for j in range(200):
    bob.send(f"PRIVMSG alice :hello alice {j}")
bob.sync(); alice.sync("hi")
cpu = (s.cpu() - cpu0) / 200
alice.send("CHATHISTORY LATEST bob * 10")
kept = [l for l in alice.until(lambda l: " BATCH -" in l or l.startswith("BATCH -")) if "PRIVMSG" in l]
print(f"{binary}: after one IP's 56 000 lines to unregistered users, a newcomer's message to alice: "
      f"{len(kept)} of 10 asked kept; server CPU {flood_cpu:.2f} s for the 56 000 lines, then "
      f"{cpu*1000:.2f} ms per direct message")
s.stop()
