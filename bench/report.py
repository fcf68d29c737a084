#!/usr/bin/env python3
"""Print the markdown table of a bench/run result directory.

Usage: report.py RESULT_DIR

Reads what bench/run wrote there: facts.tsv (the machine and the sizes),
hyperfine's JSON (split.json, split-python.json, send.json), bench_time's
figures (time/CASE.PROCESS[.RUN]: wall s, user s, system s, peak RSS KiB)
and sustained.tsv. Every figure is a median over the runs; every ratio
compares figures of the same run of bench/run.
"""
import glob
import json
import os
import statistics
import sys


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Result:
    def __init__(self, root):
        self.root = root
        self.facts = {}
        with open(os.path.join(root, "facts.tsv"), encoding="utf-8") as f:
            for line in f:
                key, _, value = line.rstrip("\n").partition("\t")
                self.facts[key] = value

    def hyperfine(self, name):
        """{command name: hyperfine's result} from NAME.json."""
        with open(os.path.join(self.root, name), encoding="utf-8") as f:
            return {r["command"]: r for r in json.load(f)["results"]}

    def times(self, prefix):
        """bench_time's figures of every run of time/PREFIX[.RUN]:
        a list of (wall, user, system, rss KiB)."""
        rows = []
        files = glob.glob(os.path.join(self.root, "time", prefix)) + glob.glob(
            os.path.join(self.root, "time", prefix + ".*"))
        for path in sorted(files):
            with open(path, encoding="utf-8") as f:
                # "Command exited with non-zero status N" may come first.
                lines = [line for line in f.read().splitlines() if line.strip()]
            if not lines:
                continue
            fields = lines[-1].split()
            try:
                wall, user, system, rss = (float(x) for x in fields[:4])
            except ValueError:
                continue
            rows.append((wall, user, system, rss))
        return rows

    def cpu(self, prefix):
        """Median CPU seconds (user + system) of the runs of PREFIX."""
        return median([u + s for _, u, s, _ in self.times(prefix)])

    def rss(self, prefix):
        """The largest peak RSS (KiB) over the runs of PREFIX."""
        values = [r for *_, r in self.times(prefix)]
        return max(values) if values else None

    def sustained(self):
        rows = []
        path = os.path.join(self.root, "sustained.tsv")
        with open(path, encoding="utf-8") as f:
            header = f.readline().rstrip("\n").split("\t")
            for line in f:
                rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
        return rows


def fmt(value, digits=3, unit=""):
    if value is None:
        return "–"
    return f"{value:.{digits}f}{unit}"


def mib(kib):
    return "–" if kib is None else f"{kib / 1024:.1f} MiB"


def own_rss(connect, auth):
    """xmpp-connect's own peak RSS, from wait4's figure, which is the larger
    of its own and its child's (xmpp-auth's, measured on its own too)."""
    if connect is None or auth is None:
        return "–"
    return mib(connect) if connect > auth else f"≤ {mib(auth)}"


def ratio(a, b, digits=2):
    if a is None or b is None or b == 0:
        return None
    return a / b


def verdict(ok):
    if ok is None:
        return "?"
    return "holds" if ok else "**misses**"


def main():
    r = Result(sys.argv[1])
    facts = r.facts
    targets = []  # (target, measured, holds)
    out = []
    say = out.append

    quick = facts.get("mode") == "quick"
    say(f"## xmpp-pipes benchmark ({facts.get('mode')} run, {facts.get('date')})")
    say("")
    if quick:
        say("**Quick mode: tiny sizes, one run each; the figures below mean nothing.**")
        say("")
    say(f"- machine: {facts.get('cpu')}, {facts.get('cores')} cores, {facts.get('memory')}; "
        f"{facts.get('kernel')}")
    say(f"- load average (1, 5, 15 min) before: {facts.get('load_before')}; "
        f"after: {facts.get('load_after')}")
    say(f"- {facts.get('rustc')}; {facts.get('hyperfine')}; {facts.get('go-sendxmpp')}; "
        f"Prosody {facts.get('prosody')}; {facts.get('python')}; commit {facts.get('commit')}")
    say("- medians over the runs; each ratio compares figures of this one run")
    say("")

    # ------------------------------------------------------------ case 1
    stream_mb = int(facts["stream_bytes"]) / 1e6
    split = r.hyperfine("split.json")
    split.update(r.hyperfine("split-python.json"))
    say(f"### 1. stanza-split throughput ({stream_mb:.0f} MB stream, "
        f"{int(facts['split_lines']) - 1} stanzas; `cat FILE | X > /dev/null`)")
    say("")
    say("MB/s: the stream's size over the median wall time (hyperfine). CPU: the process X "
        "alone, median of as many more runs under `bench_time` (Python: one); MB per "
        "CPU-second is what X would do with a core to itself.")
    say("")
    say("| X | runs | wall (median) | MB/s | CPU (user+sys) | MB per CPU-s | peak RSS | MB/s vs stanza-split |")
    say("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    speed = {name: stream_mb / h["median"] for name, h in split.items()}
    cpu_speed = {}
    for name, label in [("cat", "`cat` (the limit)"), ("stanza-split", "`stanza-split`"),
                        ("python", "Python XMLPullParser (`bench/py_split.py`)")]:
        h = split[name]
        cpu = r.cpu("split." + name)
        cpu_speed[name] = stream_mb / cpu if cpu else None
        say(f"| {label} | {len(h['times'])} | {h['median']:.3f} s | {speed[name]:.0f} | "
            f"{fmt(cpu, 3, ' s')} | {fmt(cpu_speed[name], 0)} | {mib(r.rss('split.' + name))} | "
            f"{speed[name] / speed['stanza-split']:.3g}× |")
    say("")
    vs_cat = ratio(speed["stanza-split"], speed["cat"])
    vs_python = ratio(speed["stanza-split"], speed["python"])
    cpu_vs_cat = ratio(cpu_speed["stanza-split"], cpu_speed["cat"])
    cpu_vs_python = ratio(cpu_speed["stanza-split"], cpu_speed["python"])
    targets.append(("stanza-split ≥ 0.5 × cat's throughput",
                    f"{vs_cat:.2f} × (per CPU-second: {fmt(cpu_vs_cat, 3)} ×)", vs_cat >= 0.5))
    targets.append(("stanza-split ≥ 10 × the Python splitter's",
                    f"{vs_python:.1f} × (per CPU-second: {fmt(cpu_vs_python, 1)} ×)", vs_python >= 10))

    # ------------------------------------------------------------ case 2
    send = r.hyperfine("send.json")
    ours_wall, go_wall = send["xmpp-pipes"]["median"], send["go-sendxmpp"]["median"]
    # wait4(2) counts a process's waited-for children in its figures:
    # xmpp-connect's include xmpp-auth's (its child), so they are the chain's.
    ours_cpu, auth_cpu = r.cpu("send.xmpp-connect"), r.cpu("send.xmpp-auth")
    connect_cpu = median([c[1] + c[2] - a[1] - a[2] for c, a in
                          zip(r.times("send.xmpp-connect"), r.times("send.xmpp-auth"))])
    go_cpu = r.cpu("send.go-sendxmpp")
    connect_rss, auth_rss, go_rss = (r.rss("send.xmpp-connect"), r.rss("send.xmpp-auth"),
                                     r.rss("send.go-sendxmpp"))
    time_runs = len(r.times("send.go-sendxmpp"))
    connect_rss_text = own_rss(connect_rss, auth_rss)
    say("### 2. Send one message and confirm (STARTTLS, SASL, bind, one message, close)")
    say("")
    say(f"Wall: hyperfine, {len(send['xmpp-pipes']['times'])} runs each (the whole pipeline). "
        f"CPU and peak RSS: `bench_time` (wait4) on each process, {time_runs} runs each.")
    say("")
    say("xmpp-connect runs xmpp-auth as its child: the chain's CPU is xmpp-connect's figure, "
        "which wait4(2) gives with its child's included; xmpp-connect's own is that minus "
        "xmpp-auth's. Peak RSS is per process (wait4 gives the larger of a process's and its "
        "child's: xmpp-connect's own is shown when it is the larger).")
    say("")
    say("| sender | wall (median) | CPU (user+sys) | peak RSS |")
    say("| --- | ---: | ---: | ---: |")
    say(f"| xmpp-pipes: `xmpp-connect … xmpp-auth …` | {ours_wall * 1000:.0f} ms | "
        f"{fmt(ours_cpu and ours_cpu * 1000, 1, ' ms')} | largest {mib(max(connect_rss, auth_rss))} |")
    say(f"| … of which `xmpp-connect` | | {fmt(connect_cpu and connect_cpu * 1000, 1, ' ms')} | "
        f"{connect_rss_text} |")
    say(f"| … of which `xmpp-auth` | | {fmt(auth_cpu and auth_cpu * 1000, 1, ' ms')} | {mib(auth_rss)} |")
    say(f"| `go-sendxmpp` | {go_wall * 1000:.0f} ms | {fmt(go_cpu and go_cpu * 1000, 1, ' ms')} | "
        f"{mib(go_rss)} |")
    w, c, m = ratio(ours_wall, go_wall), ratio(ours_cpu, go_cpu), ratio(max(connect_rss, auth_rss), go_rss)
    say(f"| **ratio xmpp-pipes / go-sendxmpp** | **{fmt(w, 2)}** | **{fmt(c, 2)}** | **{fmt(m, 2)}** |")
    say("")
    say("(CPU and RSS from wait4(2), by `examples/bench_time`, to the microsecond.)")
    say("")
    targets.append(("send-and-confirm wall ≤ 0.5 × go-sendxmpp's", f"{fmt(w, 2)} ×", w is not None and w <= 0.5))
    targets.append(("send-and-confirm CPU ≤ 0.5 × go-sendxmpp's", f"{fmt(c, 2)} ×",
                    None if c is None else c <= 0.5))
    targets.append(("send-and-confirm peak RSS of each process ≤ 0.5 × go-sendxmpp's",
                    f"{fmt(m, 2)} × (largest)", None if m is None else m <= 0.5))

    # ------------------------------------------------------------ case 3
    n = int(facts["messages"])
    rows = r.sustained()
    say(f"### 3. Sustained: {n} messages from one session to bob, who counts them")
    say("")
    say("Total: from starting the sender until bob has every message (and, for xmpp-pipes, "
        "the sender has exited after the server acknowledged them all). "
        "Bob's session is the same chain (`xmpp-connect … xmpp-auth --presence … | stanza-split`) "
        "for both senders. The server's CPU is Prosody's, from /proc/PID/stat, over the same span.")
    say("")
    say("| sender | runs | total (median) | messages/s | received (min) | sender CPU | "
        "sender CPU / message | bob's chain CPU | server CPU | server busy |")
    say("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rate = {}
    sender_cpus = {}
    together = {}
    server = {}
    for sender in ["xmpp-pipes", "go-sendxmpp"]:
        mine = [row for row in rows if row["sender"] == sender]
        total = median([float(row["total_s"]) for row in mine])
        received = min(int(row["received"]) for row in mine)
        server[sender] = median([float(row["server_cpu_s"]) for row in mine])
        # xmpp-connect's figures include its child xmpp-auth's (see case 2).
        if sender == "xmpp-pipes":
            sender_cpu = r.cpu("sustained.send.xmpp-connect")
        else:
            sender_cpu = r.cpu("sustained.send.go-sendxmpp")
        recv = [sum(t[1] + t[2] for t in ts) for ts in zip(
            r.times(f"sustained.recv.xmpp-connect.{sender}"),
            r.times(f"sustained.recv.stanza-split.{sender}"))]
        recv_cpu = median(recv)
        sender_cpus[sender] = sender_cpu
        rate[sender] = received / total if total else None
        if sender == "xmpp-pipes":
            together = {"ours": (sender_cpu or 0) + (recv_cpu or 0), "server": server[sender],
                        "lost": n - received}
        say(f"| {sender} | {len(mine)} | {total:.2f} s | {rate[sender]:.0f} | {received} | "
            f"{fmt(sender_cpu, 2, ' s')} | {fmt(sender_cpu and sender_cpu / n * 1e6, 0, ' µs')} | "
            f"{fmt(recv_cpu, 2, ' s')} | {fmt(server[sender], 2, ' s')} | "
            f"{fmt(server[sender] and 100 * server[sender] / total, 0, ' %')} |")
    s = ratio(rate["xmpp-pipes"], rate["go-sendxmpp"])
    per_message = ratio(sender_cpus["xmpp-pipes"], sender_cpus["go-sendxmpp"])
    say(f"| **ratio xmpp-pipes / go-sendxmpp** | | | **{fmt(s, 2)}** | | **{fmt(per_message, 2)}** | "
        f"**{fmt(per_message, 2)}** | | | |")
    say("")
    say("Server busy: Prosody's CPU time over the total time; near 100 % the server, "
        "not the sender, sets the pace.")
    say("")
    targets.append(("sustained ≥ 2 × go-sendxmpp's messages/s", f"{fmt(s, 2)} ×", s is not None and s >= 2))
    targets.append(("sustained: none lost", f"{together['lost']} lost", together["lost"] == 0))
    targets.append(("sustained: our tools (sender + bob's chain) use less CPU than the server",
                    f"{together['ours']:.2f} s vs {fmt(together['server'], 2, ' s')}",
                    together["server"] is not None and together["ours"] < together["server"]))

    # ------------------------------------------------------------ case 4
    big_mb = int(facts["big_bytes"]) / 1e6
    say("### 4. Memory: peak RSS of each process")
    say("")
    say("| case | xmpp-connect | xmpp-auth | stanza-split | go-sendxmpp | other |")
    say("| --- | ---: | ---: | ---: | ---: | ---: |")
    say(f"| 1. throughput ({stream_mb:.0f} MB stream) | | | {mib(r.rss('split.stanza-split'))} | | "
        f"cat {mib(r.rss('split.cat'))}, Python {mib(r.rss('split.python'))} |")
    say(f"| 2. send one message | {connect_rss_text} | {mib(auth_rss)} | | {mib(go_rss)} | |")
    send_auth = r.rss("sustained.send.xmpp-auth")
    say(f"| 3. sustained, sender | {own_rss(r.rss('sustained.send.xmpp-connect'), send_auth)} | "
        f"{mib(send_auth)} | | {mib(r.rss('sustained.send.go-sendxmpp'))} | |")
    recv_auth = r.rss("sustained.recv.xmpp-auth")
    say(f"| 3. sustained, bob's chain | {own_rss(r.rss('sustained.recv.xmpp-connect'), recv_auth)} | "
        f"{mib(recv_auth)} | {mib(r.rss('sustained.recv.stanza-split'))} | | |")
    say(f"| 4. one {big_mb:.0f} MB stanza (`--max-stanza 16M`) | | | {mib(r.rss('big.stanza-split'))} | | |")
    say("")

    # ------------------------------------------------------------ targets
    say("### Targets (issue 5)")
    say("")
    say("| target | measured | verdict |")
    say("| --- | ---: | --- |")
    for target, measured, ok in targets:
        say(f"| {target} | {measured} | {verdict(ok)} |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
