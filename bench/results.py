"""Turns the JSON lines of `bench/run.sh` into bench/RESULTS.md (printed on stdout).

Usage: python3 bench/results.py RESULTS.jsonl   (machine facts come from BENCH_* variables)
"""

import json
import os
import statistics
import sys

PEERS = ("ejabberd", "relay")

# Confab's targets from the issue: (scenario, key) -> (comparison, bound). Idle targets apply
# at the largest connection count of the run.
TARGETS = {
    ("idle", "rss_kib_per_connection"): ("<=", 12),
    ("idle", "logins_per_sec"): (">=", 8000),
    ("pingpong", "delivered_per_sec"): (">=", 25000),
    ("pingpong", "latency_ms_p99"): ("<=", 5),
    ("pingpong", "server_cpu_us_per_message"): ("<=", 40),
    ("offline", "stored_per_sec"): (">=", 20000),
    ("offline", "drained_per_sec"): (">=", 100000),
}

# The group scenarios' targets (Confab only): (scenario, members, key) -> (comparison, bound).
GROUP_TARGETS = {
    ("group", 3000, "copies_per_sec"): (">=", 50000),
    ("group", 200, "latency_ms_p99"): ("<=", 50),
    ("group_offline", 3000, "catch_up_secs"): ("<=", 10),
}

# The group scenario (Confab only), one table row per group size: (key, label, better).
GROUP_ROWS = (
    ("msgs_per_sec", "msgs/s (acknowledged in the window)", "higher"),
    ("copies_per_sec", "copies/s (delivered to a member)", "higher"),
    ("latency_ms_p50", "send to member's receipt p50, ms", "lower"),
    ("latency_ms_p99", "send to member's receipt p99, ms", "lower"),
    ("latency_ms_p999", "send to member's receipt p99.9, ms", "lower"),
    ("ack_latency_ms_p99", "send to ack p99, ms", "lower"),
    ("server_cpu_us_per_copy", "server CPU per copy, µs", "lower"),
    ("server_busy", "server's core busy (share of the measured time)", "–"),
    ("copies_per_page", "copies per page (frame)", "–"),
    ("missing_copies", "copies owed that never came (whole run)", "lower"),
    ("duplicate_copies", "copies a member got twice (whole run)", "lower"),
    ("sends_skipped", "sends skipped (1,000 unacknowledged)", "lower"),
    ("loader_busy", "loader's core busy (share of the measured time)", "–"),
)

# The group-offline scenario (Confab only): (key, label, better).
GROUP_OFFLINE_ROWS = (
    ("catch_up_secs", "catch-up: first login to the last member complete, s", "lower"),
    ("copies_per_sec", "copies/s during the catch-up", "higher"),
    ("member_catch_up_ms_p50", "a member complete p50, ms after the first login", "lower"),
    ("member_catch_up_ms_p99", "a member complete p99, ms after the first login", "lower"),
    ("logins_per_sec", "logins/s during the catch-up", "higher"),
    ("server_cpu_us_per_copy", "server CPU per copy, µs", "lower"),
    ("stored_per_sec", "stored msgs/s (the sends, members offline)", "higher"),
    ("store_server_cpu_us_per_message", "server CPU per stored msg, µs", "lower"),
    ("missing_copies", "copies owed that never came", "lower"),
    ("duplicate_copies", "copies a member got twice", "lower"),
    ("loader_busy", "loader's core busy (share of the catch-up)", "–"),
)

# The room scenario's targets (Confab only), at the size: (members, key) -> bound.
ROOM_TARGETS = {
    (10000, "copies_per_sec"): (">=", 100000),
    (10000, "latency_ms_p99"): ("<=", 100),
    (10000, "join_storm_secs"): ("<=", 5),
}

# The room scenario (Confab only), one table row per figure: (key, label, better).
ROOM_ROWS = (
    ("join_storm_secs", "join storm: first join sent to the last answered, s", "lower"),
    ("joins_per_sec", "join storm: joins/s", "higher"),
    ("join_latency_ms_p99", "join storm: a join's answer p99, ms", "lower"),
    ("join_server_cpu_us_per_join", "join storm: server CPU per join, µs", "lower"),
    ("join_events_received", "join storm: member event metas received (the server batches joins: one meta names many)", "–"),
    ("msgs_per_sec", "msgs/s (acknowledged in the window)", "higher"),
    ("copies_per_sec", "copies/s (delivered to a member)", "higher"),
    ("latency_ms_p50", "send to member's receipt p50, ms", "lower"),
    ("latency_ms_p99", "send to member's receipt p99, ms", "lower"),
    ("latency_ms_p999", "send to member's receipt p99.9, ms", "lower"),
    ("ack_latency_ms_p99", "send to ack p99, ms", "lower"),
    ("server_cpu_us_per_copy", "server CPU per copy, µs", "lower"),
    ("server_busy", "server's core busy (share of the measured time)", "–"),
    ("copies_per_page", "copies per page (frame)", "–"),
    ("rss_kib_after", "server RSS after the run, KiB", "lower"),
    ("missing_copies", "copies owed that never came (whole run)", "lower"),
    ("duplicate_copies", "copies a member got twice (whole run)", "lower"),
    ("sends_skipped", "sends skipped (1,000 unacknowledged per sender)", "lower"),
    ("sessions_lost", "sessions the server ended before the run did", "lower"),
    ("loader_busy", "loader's core busy (share of the measured time)", "–"),
)

# The multidevice scenario (Confab only): (key, label, better).
MULTIDEVICE_ROWS = (
    ("msgs_per_sec", "msgs/s (sent and acknowledged)", "higher"),
    ("copies_per_sec", "copies/s (delivered to a device)", "higher"),
    ("copy_latency_ms_p50", "latency per copy p50, ms", "lower"),
    ("copy_latency_ms_p99", "latency per copy p99, ms", "lower"),
    ("copy_latency_ms_p999", "latency per copy p99.9, ms", "lower"),
    ("ack_latency_ms_p99", "send to ack p99, ms", "lower"),
    ("server_cpu_us_per_message", "server CPU per msg, µs", "lower"),
    ("missing_copies", "copies owed that never came (whole run)", "lower"),
    ("duplicate_copies", "copies a device got twice (whole run)", "lower"),
    ("loader_busy", "loader's core busy (share of the measured time)", "–"),
)

# The presence scenario (Confab only): (key, label, better).
PRESENCE_ROWS = (
    ("publishes_per_sec", "publishes/s (answered)", "higher"),
    ("deliveries_per_sec", "NOTIFY deliveries/s (presence metas received)", "higher"),
    ("latency_ms_p50", "publish to subscriber's event p50, ms", "lower"),
    ("latency_ms_p99", "publish to subscriber's event p99, ms", "lower"),
    ("latency_ms_p999", "publish to subscriber's event p99.9, ms", "lower"),
    ("publish_latency_ms_p99", "publish REST answer p99, ms", "lower"),
    ("server_cpu_us_per_delivery", "server CPU per delivery, µs", "lower"),
    ("server_cpu_us_per_publish", "server CPU per publish, µs", "lower"),
    ("server_busy", "server's core busy (share of the measured time)", "–"),
    ("deliveries_per_publish", "deliveries per publish", "–"),
    ("deliveries_per_page", "deliveries per page (frame)", "–"),
    ("publishes_skipped", "publishes skipped (every connection busy)", "lower"),
    ("sessions_lost", "sessions the server ended before the run did", "lower"),
    ("loader_busy", "loader's core busy (share of the measured time)", "–"),
)


def fmt(value):
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def main():
    lines = [line.strip() for line in open(sys.argv[1]) if line.strip()]
    records = [json.loads(line) for line in lines]
    ok = [r for r in records if not r.get("failed")]
    failed = [r for r in records if r.get("failed")]
    runs = int(os.environ.get("BENCH_RUNS", "1"))
    # With `--baseline`: an earlier build of Confab, in a column of its own.
    baseline = any(r["server"] == "baseline" for r in records)
    servers = ("confab",) + (("baseline",) if baseline else ()) + PEERS

    idle_counts = sorted({r["connections"] for r in ok if r["scenario"] == "idle"})
    rows = []  # (label, scenario, key, better, match)
    for count in idle_counts:
        match = {"connections": count}
        rows.append((f"idle {count:,}: logins/s", "idle", "logins_per_sec", "higher", match))
        rows.append((f"idle {count:,}: server RSS per connection, KiB", "idle",
                     "rss_kib_per_connection", "lower", match))
    pairs = next((r["pairs"] for r in ok if r["scenario"] == "pingpong"), 100)
    ran = {r["scenario"] for r in records}
    for key, label, better in () if "pingpong" not in ran else (
        ("delivered_per_sec", "delivered msgs/s", "higher"),
        ("latency_ms_p50", "one-way latency p50, ms", "lower"),
        ("latency_ms_p99", "one-way latency p99, ms", "lower"),
        ("latency_ms_p999", "one-way latency p99.9, ms", "lower"),
        ("server_cpu_us_per_message", "server CPU per delivered msg, µs", "lower"),
        ("loader_busy", "loader's core busy (share of the measured time)", "–"),
    ):
        rows.append((f"pingpong {pairs} pairs: {label}", "pingpong", key, better, {}))
    messages = next((r["messages"] for r in ok if r["scenario"] == "offline"), 10000)
    for key, label in () if "offline" not in ran else (
            ("stored_per_sec", "stored msgs/s"), ("drained_per_sec", "drained msgs/s")):
        rows.append((f"offline {messages:,}: {label}", "offline", key, "higher", {}))

    def median(server, scenario, key, match):
        values = [r[key] for r in ok if r["server"] == server and r["scenario"] == scenario
                  and all(r.get(k) == v for k, v in match.items())
                  and r.get(key) is not None]
        return (statistics.median(values) if values else None), len(values)

    env = os.environ.get
    out = []
    out.append("# Benchmark results: Confab vs ejabberd vs a bare WebSocket relay\n")
    out.append("Written by `bench/run.sh`; how each figure is measured: `bench/README.md`.\n")
    out.append(f"- Date: {env('BENCH_DATE', '?')}")
    out.append(f"- Commit: `{env('BENCH_COMMIT', '?')}`")
    out.append(f"- Command: `{env('BENCH_COMMAND', 'bash bench/run.sh')}` "
               f"({runs} run(s) of each scenario, medians below; scenarios took "
               f"{env('BENCH_ELAPSED', '?')} s)")
    out.append(f"- Machine: {env('BENCH_NPROC', '?')} CPUs, {env('BENCH_CPU', '?')}, "
               f"{env('BENCH_RAM', '?')} RAM, {env('BENCH_KERNEL', '?')}")
    out.append(f"- Pinning: server on CPU {env('BENCH_SERVER_CPU', '?')}, load generator on CPU "
               f"{env('BENCH_LOADER_CPU', '?')} (`taskset`); loopback only")
    out.append(f"- Rust: {env('BENCH_RUSTC', '?')}; ejabberd {env('BENCH_EJABBERD', '?')}")
    if baseline:
        out.append(f"- Baseline: {env('BENCH_BASELINE', '?')}, run alternately with this build")
    if os.environ.get("BENCH_ONLY"):
        out.append(f"- Scenarios: {os.environ['BENCH_ONLY']} only (`--only`)")
    out.append("")
    if not rows:
        pass
    elif baseline:
        out.append("| figure | better | Confab | baseline | ejabberd | relay | Confab/baseline "
                   "| Confab/ejabberd | Confab/relay | Confab target |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    else:
        out.append("| figure | better | Confab | ejabberd | relay | Confab/ejabberd "
                   "| Confab/relay | Confab target |")
        out.append("|---|---|---:|---:|---:|---:|---:|---|")
    largest_idle = idle_counts[-1] if idle_counts else None
    for label, scenario, key, better, match in rows:
        values = {}
        cells = []
        for server in servers:
            value, n = median(server, scenario, key, match)
            values[server] = value
            if server == "relay" and scenario == "offline":
                cells.append("n/a")
                continue
            note = f" ({n}/{runs} runs)" if value is not None and n < runs else ""
            cells.append(fmt(value) + note)
        target = ""
        if (scenario, key) in TARGETS and (scenario != "idle" or match.get("connections") == largest_idle):
            op, bound = TARGETS[(scenario, key)]
            value = values["confab"]
            if value is not None:
                met = value <= bound if op == "<=" else value >= bound
                target = f"{op} {bound:,}: {'met' if met else 'NOT met'}"
        ratios = [ratio(values["confab"], values["baseline"])] if baseline else []
        ratios.append(ratio(values["confab"], values["ejabberd"]))
        ratios.append("n/a" if scenario == "offline" else ratio(values["confab"], values["relay"]))
        if better == "–":  # a figure of the loader, not of the server
            ratios = ["–"] * len(ratios)
        out.append(f"| {label} | {better} | {' | '.join(cells)} | "
                   f"{' | '.join(ratios)} | {target} |")
    if rows:
        out.append("")
        out.append("Ratios are Confab's median over the other server's: above 1 is better for "
                   "\"higher\" figures, below 1 for \"lower\" ones. The relay stores nothing, so "
                   "it has no offline scenario.")
    multidevice = [r for r in ok if r["scenario"] == "multidevice"]
    if multidevice:
        first = multidevice[0]
        expected = (first["users"] // 2) * first["devices"]
        out.append("")
        out.append(f"**multidevice** (Confab only): {first['users']} users with "
                   f"{first['devices']} devices (sessions) each, in pairs; each device of one "
                   "user of a pair plays pingpong with the same device of the other "
                   f"({expected} messages in flight). Every message is owed to the recipient's "
                   f"{first['devices']} devices and to the sender's other "
                   f"{first['devices'] - 1}: a copy is one of those arrivals, its latency from "
                   "the send to that arrival.")
        out.append("")
        md_servers = ("confab",) + (("baseline",) if baseline else ())
        out.append("| figure | better | " + " | ".join(
            "Confab" if s == "confab" else s for s in md_servers)
            + (" | Confab/baseline |" if baseline else " |"))
        out.append("|---|---|" + "---:|" * len(md_servers) + ("---:|" if baseline else ""))
        for key, label, better in MULTIDEVICE_ROWS:
            values = {}
            cells = []
            for server in md_servers:
                value, n = median(server, "multidevice", key, {})
                values[server] = value
                note = f" ({n}/{runs} runs)" if value is not None and n < runs else ""
                count = key.endswith("_copies") and value is not None
                cells.append((f"{value:,.0f}" if count else fmt(value)) + note)
            row = f"| {label} | {better} | {' | '.join(cells)} |"
            if baseline:
                row += f" {'–' if better == '–' else ratio(values['confab'], values['baseline'])} |"
            out.append(row)
    presence = [r for r in ok if r["scenario"] == "presence"]
    if presence:
        first = presence[0]
        out.append("")
        out.append(f"**presence** (Confab only): {first['users']:,} users online, each "
                   f"subscribed to {first['subscriptions_per_user']} others; "
                   f"{first['target_publishes_per_sec']:,} publishes/s due over REST "
                   f"({first['http_connections']} keep-alive connections), spread over the "
                   "users. Each publish is owed to its publisher's subscribers as a NOTIFY meta "
                   "on a page their session did not ask for; a delivery is one such meta "
                   "received, its latency from the publish's send to its arrival. A publish due "
                   "while every connection is busy is skipped, so publishes/s below the rate due "
                   "is the server's limit.")
        saturated = [r for r in presence if r.get("loader_saturated")]
        if saturated:
            out.append("")
            which = ", ".join(sorted({r["server"] for r in saturated}))
            out.append(f"The loader's core was saturated in {len(saturated)} of "
                       f"{len(presence)} run(s) ({which}): its own queue is in those "
                       "latencies, and the deliveries are what it could read.")
        out.append("")
        pr_servers = ("confab",) + (("baseline",) if any(
            r["server"] == "baseline" for r in presence) else ())
        pr_baseline = len(pr_servers) > 1
        out.append("| figure | better | " + " | ".join(
            "Confab" if s == "confab" else s for s in pr_servers)
            + (" | Confab/baseline |" if pr_baseline else " |"))
        out.append("|---|---|" + "---:|" * len(pr_servers) + ("---:|" if pr_baseline else ""))
        for key, label, better in PRESENCE_ROWS:
            values = {}
            cells = []
            for server in pr_servers:
                value, n = median(server, "presence", key, {})
                values[server] = value
                note = f" ({n}/{runs} runs)" if value is not None and n < runs else ""
                count = key in ("publishes_skipped", "sessions_lost") and value is not None
                cells.append((f"{value:,.0f}" if count else fmt(value)) + note)
            row = f"| {label} | {better} | {' | '.join(cells)} |"
            if pr_baseline:
                row += f" {'–' if better == '–' else ratio(values['confab'], values['baseline'])} |"
            out.append(row)
    groups = [r for r in ok if r["scenario"] in ("group", "group_offline")]
    if groups:
        out.append("")
        out.append("**group** and **group-offline** (Confab only): a group of N members is N "
                   "users online (one session each), the owner sending to the group at a fixed "
                   "rate; every message is owed as a copy to the other N − 1, a copy's latency "
                   "from the send to that member's receipt. group-offline: the owner sends while "
                   "every other member is offline (after a first login each), then they all log "
                   "in (100 at a time); the catch-up ends when each has every message.")
        if any(r.get("loader_saturated") for r in groups):
            out.append("")
            out.append("The loader's core was saturated in some group runs: its own queue is "
                       "in those latencies.")
        out.append("")
        gr_servers = ("confab",) + (("baseline",) if any(
            r["server"] == "baseline" for r in groups) else ())
        gr_baseline = len(gr_servers) > 1
        out.append("| figure | better | " + " | ".join(
            "Confab" if s == "confab" else s for s in gr_servers)
            + (" | Confab/baseline" if gr_baseline else "") + " | Confab target |")
        out.append("|---|---|" + "---:|" * len(gr_servers) + ("---:|" if gr_baseline else "")
                   + "---|")

        def group_row(scenario, match, prefix, key, label, better):
            values = {}
            cells = []
            for server in gr_servers:
                value, n = median(server, scenario, key, match)
                values[server] = value
                note = f" ({n}/{runs} runs)" if value is not None and n < runs else ""
                count = key in ("missing_copies", "duplicate_copies", "sends_skipped")
                cells.append((f"{value:,.0f}" if count and value is not None else fmt(value))
                             + note)
            row = f"| {prefix}{label} | {better} | {' | '.join(cells)} |"
            if gr_baseline:
                row += f" {'–' if better == '–' else ratio(values['confab'], values['baseline'])} |"
            target = ""
            bound = GROUP_TARGETS.get((scenario, match.get("members"), key))
            if bound is not None and values["confab"] is not None:
                op, limit = bound
                met = values["confab"] <= limit if op == "<=" else values["confab"] >= limit
                target = f"{op} {limit:,}: {'met' if met else 'NOT met'}"
            out.append(f"{row} {target} |")

        online = [r for r in groups if r["scenario"] == "group"]
        for members in sorted({r["members"] for r in online}):
            rate = next(r["target_msgs_per_sec"] for r in online if r["members"] == members)
            prefix = f"group of {members:,} at {rate:g} msgs/s: "
            for key, label, better in GROUP_ROWS:
                group_row("group", {"members": members}, prefix, key, label, better)
        offline = [r for r in groups if r["scenario"] == "group_offline"]
        for members in sorted({r["members"] for r in offline}):
            messages = next(r["messages"] for r in offline if r["members"] == members)
            prefix = f"group-offline {members:,} members, {messages:,} msgs: "
            for key, label, better in GROUP_OFFLINE_ROWS:
                group_row("group_offline", {"members": members}, prefix, key, label, better)
        incomplete = [r for r in offline if r.get("catch_up_secs") is None]
        if incomplete:
            out.append("")
            out.append(f"In {len(incomplete)} group-offline run(s) some members never had "
                       "every message (no catch-up time; see missing copies).")
    rooms = [r for r in ok if r["scenario"] == "room"]
    if rooms:
        first = rooms[0]
        out.append("")
        out.append(f"**room** (Confab only): one chat room of {first['members']:,} members, each "
                   "one session online. The join storm: every member joins at once over msync, "
                   f"{first['join_concurrency']} joins unanswered at most; its time runs from "
                   "the first join sent until every member's join is answered, and each join is "
                   "told to the members in already (a member event). Then "
                   f"{first['senders']} members send, {first['target_msgs_per_sec']:g} msgs/s in "
                   "all; every message is owed as a copy to the other N − 1 members (the "
                   "sender's device gets none), pushed by the server unasked, its latency from "
                   "the send to that member's receipt. Delivery is best effort: a session that "
                   "cannot keep up drops room messages, which shows as missing copies.")
        if any(r.get("loader_saturated") for r in rooms):
            out.append("")
            out.append("The loader's core was saturated in some room runs: its own queue is in "
                       "those latencies.")
        out.append("")
        rm_servers = ("confab",) + (("baseline",) if any(
            r["server"] == "baseline" for r in rooms) else ())
        rm_baseline = len(rm_servers) > 1
        out.append("| figure | better | " + " | ".join(
            "Confab" if s == "confab" else s for s in rm_servers)
            + (" | Confab/baseline" if rm_baseline else "") + " | Confab target |")
        out.append("|---|---|" + "---:|" * len(rm_servers) + ("---:|" if rm_baseline else "")
                   + "---|")
        # One block per room size and rate (`ROOM_RATES` runs several rates).
        for members, rate in sorted({(r["members"], r["target_msgs_per_sec"]) for r in rooms},
                                    key=lambda pair: (pair[0], -pair[1])):
            prefix = f"room of {members:,} at {rate:g} msgs/s: "
            for key, label, better in ROOM_ROWS:
                values = {}
                cells = []
                for server in rm_servers:
                    value, n = median(server, "room", key,
                                      {"members": members, "target_msgs_per_sec": rate})
                    values[server] = value
                    note = f" ({n}/{runs} runs)" if value is not None and n < runs else ""
                    count = key in ("missing_copies", "duplicate_copies", "sends_skipped",
                                    "sessions_lost", "join_events_received", "rss_kib_after")
                    cells.append((f"{value:,.0f}" if count and value is not None
                                  else fmt(value)) + note)
                row = f"| {prefix}{label} | {better} | {' | '.join(cells)} |"
                if rm_baseline:
                    row += (f" {'–' if better == '–' else ratio(values['confab'], values['baseline'])}"
                            " |")
                target = ""
                bound = ROOM_TARGETS.get((members, key))
                if bound is not None and values["confab"] is not None:
                    op, limit = bound
                    met = values["confab"] <= limit if op == "<=" else values["confab"] >= limit
                    target = f"{op} {limit:,}: {'met' if met else 'NOT met'}"
                out.append(f"{row} {target} |")
    floors = [r for r in ok if r["scenario"] == "flush_floor"]
    if floors:
        def floor_median(key):
            return statistics.median(r[key] for r in floors)
        write_kib = floors[0]["write_kib"]
        out.append("")
        out.append("**The disk's floor for a durable ack** (`load flush-floor`, no server: "
                   f"appends of {write_kib} KiB, each followed by `fdatasync`, back to back, on "
                   "the server's core and file system; medians of "
                   f"{len(floors)} run(s)). A message arriving at a random moment waits for "
                   "the end of the first flush that began after it; no server that acknowledges "
                   "only stored messages can answer sooner, whatever its CPU.")
        out.append("")
        out.append("| flushes/s | flush p50, ms | flush p99, ms | flush p99.9, ms "
                   "| wait p50, ms | wait p99, ms | wait p99.9, ms |")
        out.append("|---:|---:|---:|---:|---:|---:|---:|")
        out.append("| " + " | ".join(fmt(floor_median(key)) for key in (
            "flushes_per_sec", "flush_ms_p50", "flush_ms_p99", "flush_ms_p999",
            "floor_ms_p50", "floor_ms_p99", "floor_ms_p999")) + " |")
    if failed:
        out.append("")
        out.append(f"**{len(failed)} load run(s) failed** and are left out of the medians:")
        for r in failed:
            out.append(f"- {r['server']} {r['scenario']} (exit {r.get('exit')})")
    findings = os.path.join(os.path.dirname(os.path.abspath(__file__)), "FINDINGS.md")
    if os.path.exists(findings):
        out.append("")
        out.append(open(findings).read().rstrip())
    out.append("")
    out.append("<details><summary>Raw JSON lines, one per load run</summary>\n")
    out.append("```")
    out.extend(lines)
    out.append("```")
    out.append("</details>")
    print("\n".join(out))


if __name__ == "__main__":
    main()
