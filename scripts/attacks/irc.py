"""A tiny IRC client and banterd launcher for replaying the attacks of issue 14
over real sockets (see README.md here). Standard library only."""
import atexit, socket, time, os, subprocess, tempfile, re, sys

def proc_cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

def proc_rss_kib(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])

class Server:
    def __init__(self, binary, config=""):
        self.dir = tempfile.mkdtemp(prefix="banter-attack-")
        cfg = os.path.join(self.dir, "c.toml")
        open(cfg, "w").write(config)
        self.p = subprocess.Popen([binary, "--config", cfg, "--listen", "127.0.0.1:0", "--data-dir", self.dir],
                                  stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                  env=dict(os.environ, RUST_LOG=os.environ.get("BLOG","info")))
        while True:
            l = self.p.stderr.readline()
            m = re.search(r"listening on 127.0.0.1:(\d+)", l)
            if m:
                self.port = int(m.group(1)); break
            if not l: raise SystemExit("server died")
        self.pid = self.p.pid
        atexit.register(self.stop)
    def cpu(self): return proc_cpu(self.pid)
    def rss(self): return proc_rss_kib(self.pid)
    def stop(self):
        if self.p.poll() is None:
            self.p.kill(); self.p.wait()

class Client:
    def __init__(self, port, src="127.0.0.1"):
        self.s = socket.create_connection(("127.0.0.1", port), source_address=(src, 0))
        self.buf = b""
    def send(self, line):
        self.s.sendall((line + "\r\n").encode())
    def sendraw(self, b): self.s.sendall(b)
    def recv(self, timeout=10):
        self.s.settimeout(timeout)
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d: return None
            self.buf += d
        l, self.buf = self.buf.split(b"\n", 1)
        return l.rstrip(b"\r").decode(errors="replace")
    def until(self, pred, timeout=30):
        out = []
        end = time.time() + timeout
        while time.time() < end:
            l = self.recv(max(0.01, end - time.time()))
            if l is None: break
            out.append(l)
            if pred(l): return out
        raise RuntimeError("timeout; last lines %r" % out[-5:])
    def cmd(self, l):
        parts = l.split(" ")
        i = 0
        if parts[0].startswith("@"): i += 1
        if parts[i].startswith(":"): i += 1
        return parts[i] if i < len(parts) else ""
    def sync(self, token="sync"):
        self.send("PING :" + token)
        return self.until(lambda l: self.cmd(l) == "PONG" and l.endswith(token))
    def register(self, nick, caps=None, password=None):
        if password: self.send("PASS " + password)
        if caps:
            self.send("CAP LS 302"); self.send("CAP REQ :" + caps)
            self.until(lambda l: " ACK " in l or " NAK " in l)
            self.send("CAP END")
        self.send("NICK " + nick); self.send(f"USER {nick} 0 * :{nick}")
        return self.until(lambda l: self.cmd(l) in ("376", "422"))
