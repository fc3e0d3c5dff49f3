# benches/command-latency.py PORT [N]: round-trip times of TOPIC and MODE +k (sequenced) and PING on one connection.
import socket,time,sys,statistics
port=int(sys.argv[1]); n=int(sys.argv[2]) if len(sys.argv)>2 else 300
s=socket.create_connection(("127.0.0.1",port)); f=s.makefile("rb")
def send(l): s.sendall((l+"\r\n").encode())
def until(pred):
    while True:
        l=f.readline().decode().rstrip("\r\n")
        if pred(l): return l
send("NICK lat%d"%port); send("USER lat 0 * :lat"); until(lambda l:" 376 " in l or " 422 " in l)
send("JOIN #lat"); until(lambda l:" 366 " in l)
def rtt(cmd, word):
    out=[]
    for i in range(n):
        t=time.perf_counter(); send(cmd%i); until(lambda l: word in l); out.append((time.perf_counter()-t)*1e6)
    out.sort(); return "p50 %.0f us  p99 %.0f us"%(out[len(out)//2], out[int(len(out)*0.99)])
print("PING  ", rtt("PING :p%d", "PONG"))
print("TOPIC ", rtt("TOPIC #lat :t%d", " TOPIC #lat"))
print("MODE  ", rtt("MODE #lat +k k%d", " MODE #lat"))
