#!/usr/bin/env python3
"""Router CPU per admin request: `metrics-scrape-cost.py BUILD_DIR [N]` starts a Tansu broker and an idle
`sluice run` with an admin server, sends N requests of a path (new connection each, or one kept connection),
and prints the router's utime + stime from /proc before and after per request, less what the idle router
used over the same time (measured just before). PERF_OUT=file also records a perf profile of the
kept-alive requests."""
import os, socket, subprocess, sys, tempfile, time, http.client, shutil

BIN = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
TANSU = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".tools", "bin", "tansu")
tick = os.sysconf("SC_CLK_TCK")

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick

def get_close(port, path):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    while s.recv(65536): pass
    s.close()

bport, mport = free_port(), free_port()
d = tempfile.mkdtemp(prefix="scrape-")
os.makedirs(f"{d}/routes"); os.makedirs(f"{d}/connectors")
open(f"{d}/routes/all.yaml", "w").write('name: everything\nmatch: {"source": ["aws.guardduty"]}\ntargets: [out]\n')
open(f"{d}/connectors/out.yaml", "w").write("name: out\ntype: kafka\ntopic: out\n")
tansu = subprocess.Popen([TANSU, "broker", "--listener-url", f"tcp://127.0.0.1:{bport}", "--advertised-listener-url", f"tcp://127.0.0.1:{bport}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(300):  # until the broker accepts connections
    try: socket.create_connection(("127.0.0.1", bport)).close(); break
    except OSError: time.sleep(0.1)
router = subprocess.Popen([f"{BIN}/sluice", "run", "--brokers", f"127.0.0.1:{bport}", "--topic", "in", "--group", "g", "--dead-letter-topic", "dlq",
                           "--routes", f"{d}/routes", "--connectors", f"{d}/connectors", "--metrics-listen", f"127.0.0.1:{mport}",
                           "--log-level", "warning", "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"],
                          stdout=open(os.path.join(d, "router.log"), "w"), stderr=subprocess.STDOUT)
try:
    for _ in range(300):
        try: get_close(mport, "/-/healthy"); break
        except OSError: time.sleep(0.1)
    time.sleep(8)  # the group join (about 3 s on Tansu with a 6 s session timeout), then idle
    body = http.client.HTTPConnection("127.0.0.1", mport); body.request("GET", "/metrics"); text = body.getresponse().read(); body.close()
    print(f"/metrics body: {len(text)} bytes, {sum(1 for l in text.splitlines() if l and not l.startswith(b'#'))} samples")
    def idle_rate(seconds=5.0):
        c0, t0 = cpu(router.pid), time.time(); time.sleep(seconds); return (cpu(router.pid) - c0) / (time.time() - t0)
    results = {}
    for label, path, keep in [("metrics, new connection each", "/metrics", False), ("healthy, new connection each", "/-/healthy", False),
                              ("metrics, one keep-alive connection", "/metrics", True)]:
        idle = idle_rate()
        c0, t0 = cpu(router.pid), time.time()
        prof = None
        if os.environ.get("PERF_OUT") and keep:
            prof = subprocess.Popen(["perf", "record", "-F", "4999", "-g", "-p", str(router.pid), "-o", os.environ["PERF_OUT"]],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); time.sleep(1)
        if keep:
            conn = http.client.HTTPConnection("127.0.0.1", mport)
            for _ in range(N): conn.request("GET", path); conn.getresponse().read()
            conn.close()
        else:
            for _ in range(N): get_close(mport, path)
        if prof: prof.send_signal(2); prof.wait()
        used, wall = cpu(router.pid) - c0, time.time() - t0
        per = (used - idle * wall) / N * 1e3
        print(f"{label:38s} {per:.3f} ms router CPU per request ({N} requests, {used:.2f} s CPU in {wall:.1f} s, idle {idle*1e3:.1f} ms/s)")
finally:
    router.terminate(); router.wait(30); tansu.terminate(); tansu.wait(10); shutil.rmtree(d)
