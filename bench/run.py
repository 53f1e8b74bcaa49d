"""`make bench`: the four benchmarks, each against a floor measured in the same run on the same
machine. Prints each figure and writes bench/results.json. See bench/README.md.

    .venv/bin/python bench/run.py            # the full run (under 10 minutes)
    .venv/bin/python bench/run.py --quick    # a smoke run (about a minute): proves the harness
    .venv/bin/python bench/run.py --only compile,mail
    .venv/bin/python bench/run.py --only sets      # learning sets and the benchmark (seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from common import BENCH_DIR, scratch_database

BENCHMARKS = ("submit", "form", "compile", "mail", "worker", "sets")
RESULTS = BENCH_DIR / "results.json"
README = BENCH_DIR / "README.md"
FIGURES_START, FIGURES_END = "<!-- figures:start -->", "<!-- figures:end -->"


def compile_benchmark(quick: bool) -> dict[str, Any]:
    """Load the season into a database of its own, then measure each scenario in a fresh
    process (so peak memory is the scenario's own)."""

    def helper(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, str(BENCH_DIR / "compile_bench.py"), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"compile_bench.py {args[0]} failed:\n{done.stderr[-4000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    with scratch_database("season") as url:
        loaded = helper("load", "--url", url, *(["--quick"] if quick else []))
        large = helper("measure", "--url", url, "--scenario", "large",
                       "--repeat", "1" if quick else "3")  # fmt: skip
        season = helper("measure", "--url", url, "--scenario", "season")
    large["ratio_to_floor"] = large["figures_seconds"] / large["floor_seconds"]
    large["all_files_ratio_to_floor"] = large["all_files_seconds"] / large["floor_seconds"]
    large["targets"] = {"figures_seconds_below": 0.5, "all_files_seconds_below": 5.0}
    large["met"] = {
        "figures": large["figures_seconds"] < 0.5,
        "all_files": large["all_files_seconds"] < 5.0,
    }
    large["measured"] = (
        "compile_cycle() for the large cycle (500 responses, 7,000 ratings, with a previous "
        "cycle for movement), median of the runs; all_files adds render_report_files() "
        "(report.html, report.pdf, results.xlsx, summary.csv, heatmap.png)"
    )
    season["ratio_to_floor"] = season["figures_seconds"] / season["floor_seconds"]
    season["measured"] = (
        "compile_cycle() for every cycle of the season, one after another, each in a new "
        "database session (figures only; no files)"
    )
    floor = (
        "per cycle: the compile step's own ratings query (score instead of key) read into a "
        "DataFrame, then one bare groupby(['group_id', 'element_code']).mean()"
    )
    return {"load": loaded, "large_cycle": large, "season": season, "floor": floor}


def _print(name: str, result: dict[str, Any]) -> None:
    def fmt(value: Any) -> str:
        return f"{value:,.3f}" if isinstance(value, float) else str(value)

    lines = [f"== {name}"]
    if name in ("submit", "form"):
        floor, unq = result["floor"], result["unqueued"]
        lines += [
            f"  {result['users']} users, {result['seconds']} s: "
            f"{fmt(result['requests_per_second'])} req/s, p50 {fmt(result['p50_ms'])} ms, "
            f"p95 {fmt(result['p95_ms'])} ms, p99 {fmt(result['p99_ms'])} ms, "
            f"failures {fmt(result['failures'])}",
            f"  unqueued ({unq['users']} users): {fmt(unq['requests_per_second'])} req/s, "
            f"p50 {fmt(unq['p50_ms'])} ms, p95 {fmt(unq['p95_ms'])} ms, "
            f"p99 {fmt(unq['p99_ms'])} ms",
        ]
        if name == "submit":
            fu, prev = floor["unqueued"], result["previous"]
            lines += [
                f"  floor (the submit's SQL from a bare WSGI app): "
                f"{fmt(floor['requests_per_second'])} req/s, p95 {fmt(floor['p95_ms'])} ms; "
                f"unqueued {fmt(fu['requests_per_second'])} req/s, p95 {fmt(fu['p95_ms'])} ms",
                f"  ratio to floor: {fmt(result['ratio_to_floor'])}; ratio to the previous "
                f"{prev['requests_per_second']:.1f} req/s: {fmt(result['ratio_to_previous'])}",
                f"  targets met: {result['met']}",
                f"  stored ballot: {result['ballot_bytes']} bytes ({result['ballot_elements']} "
                f"elements); ballots {result['stored_ballots']}, completed invitations "
                f"{result['completed_invitations']}, 303s {fmt(result['submits_answered_303'])}, "
                f"opened {result['opened_ballots']}: {result['check']}",
            ]
        else:
            lines += [
                f"  floor (bare Flask): {fmt(floor['requests_per_second'])} req/s, "
                f"p95 {fmt(floor['p95_ms'])} ms",
                f"  ratio to floor: {fmt(result['ratio_to_floor'])}; targets met: {result['met']}",
            ]
    elif name == "compile":
        large, season = result["large_cycle"], result["season"]
        lines += [
            f"  large cycle: figures {fmt(large['figures_seconds'])} s "
            f"(peak {fmt(large['figures_peak_traced_mb'])} MB traced), all six files "
            f"{fmt(large['all_files_seconds'])} s (+{fmt(large['all_files_rss_growth_mb'])} MB "
            f"RSS), floor {fmt(large['floor_seconds'])} s, ratio {fmt(large['ratio_to_floor'])}"
            f"; targets met: {large['met']}",
            f"  season ({season['cycles']} cycles, {season['responses']} responses, "
            f"{season['ratings']} ratings): {fmt(season['figures_seconds'])} s, peak RSS "
            f"{fmt(season['peak_rss_mb'])} MB (+{fmt(season['rss_growth_mb'])}), floor "
            f"{fmt(season['floor_seconds'])} s, ratio {fmt(season['ratio_to_floor'])}",
        ]
    elif name == "sets":
        st, bm, load = result["set"], result["benchmark"], result["load"]
        lines += [
            f"  stored figures: {load['trusts']:,} trusts, {load['cycles']:,} reported cycles, "
            f"{load['responses']:,} responses, {load['figures']:,} figure rows "
            f"({result['database']}), loaded in {fmt(load['load_seconds'])} s",
            f"  set of {st['trusts']} trusts' report: {fmt(st['seconds'])} s (target under "
            f"{st['target_seconds_below']:.0f} s: {'met' if st['met'] else 'NOT MET'}); pandas "
            f"floor {fmt(st['floor_seconds'])} s; ratio to floor {fmt(st['ratio_to_floor'])}",
            f"  deployment benchmark ({bm['trusts']:,} trusts): {fmt(bm['seconds'])} s (target "
            f"under {bm['target_seconds_below']:.0f} s: {'met' if bm['met'] else 'NOT MET'}); "
            f"pandas floor {fmt(bm['floor_seconds'])} s; ratio to floor "
            f"{fmt(bm['ratio_to_floor'])}",
        ]
    elif name == "worker":
        lines += [
            f"  one gunicorn worker after serving the respondent's path ({result['served']}): "
            f"RSS {fmt(result['worker_rss_mb'])} MB (target under "
            f"{result['target']['rss_mb_below']:.0f} MB), PSS {fmt(result['worker_pss_mb'])} MB, "
            f"USS {fmt(result['worker_uss_mb'])} MB, anonymous {fmt(result['worker_anon_mb'])} MB"
            f"; target met: {result['met']}",
            f"  floor: a worker of the same gunicorn whose app only imports the libraries ours "
            f"needs (bench/libs_floor_app.py): RSS {fmt(result['libraries_floor_rss_mb'])} MB, "
            f"PSS {fmt(result['libraries_floor_pss_mb'])} MB; ratio "
            f"{fmt(result['ratio_to_floor'])}",
            f"  working floor: the same libraries doing the respondent path's library work "
            f"(working_app: signed link and session, HKDF + AES-GCM seal, a rate-limit hit, an "
            f"ORM query, a Jinja page): RSS {fmt(result['working_floor_rss_mb'])} MB, PSS "
            f"{fmt(result['working_floor_pss_mb'])} MB, USS {fmt(result['working_floor_uss_mb'])}"
            f" MB; ratio {fmt(result['ratio_to_working_floor'])}",
            f"  its master (the app preloaded, shared with the worker): PSS "
            f"{fmt(result['master_pss_mb'])} MB, USS {fmt(result['master_uss_mb'])} MB",
            "  largest mappings (RSS MB, PSS MB): "
            + ", ".join(f"{name} {rss}/{pss}" for name, rss, pss in result["largest_mappings"]),
        ]
    else:
        lines += [
            f"  {result['sent']} messages in {fmt(result['seconds'])} s: "
            f"{fmt(result['messages_per_second'])} msg/s; raw smtplib "
            f"{fmt(result['floor']['messages_per_second'])} msg/s; ratio "
            f"{fmt(result['ratio_to_floor'])}; target met: {result['met']}",
        ]
    print("\n".join(lines), flush=True)


def _server_version() -> str:
    from common import PG_ADMIN_URL

    engine = sa.create_engine(PG_ADMIN_URL)
    with engine.connect() as conn:
        version = str(conn.execute(sa.text("SHOW server_version")).scalar())
    engine.dispose()
    return version


def main() -> None:
    parser = argparse.ArgumentParser(description="mat-review benchmarks (see bench/README.md)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset")
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write the figures (default bench/results.json; a "
        "--quick run writes to the temporary folder so it never replaces the real figures)",
    )
    args = parser.parse_args()
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    started = time.monotonic()
    results: dict[str, Any] = {}
    if "submit" in wanted or "form" in wanted:
        from web_bench import web_benchmarks

        web = web_benchmarks(args.quick, [n for n in ("submit", "form") if n in wanted])
        for name in ("form", "submit"):
            if name in web:
                results[name] = web[name]
                _print(name, web[name])
    if "compile" in wanted:
        results["compile"] = compile_benchmark(args.quick)
        _print("compile", results["compile"])
    if "mail" in wanted:
        from mail_bench import mail_benchmark

        mail = mail_benchmark(100 if args.quick else 2000)
        mail["target"] = {"ratio_at_least": 0.8}
        mail["met"] = {"ratio": mail["ratio_to_floor"] >= 0.8}
        results["mail"] = mail
        _print("mail", mail)

    if "worker" in wanted:
        from worker_bench import worker_benchmark

        results["worker"] = worker_benchmark(args.quick)
        _print("worker", results["worker"])

    if "sets" in wanted:
        from sets_bench import sets_benchmark

        results["sets"] = (
            sets_benchmark(trusts=110, responses=3_500) if args.quick else sets_benchmark()
        )
        _print("sets", results["sets"])

    document = {
        "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "quick": args.quick,
        "total_seconds": round(time.monotonic() - started, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "postgresql": _server_version(),
        },
        "benchmarks": _round(results),
    }
    out = args.out or (
        Path(tempfile.gettempdir()) / "mat-review-bench-quick.json" if args.quick else RESULTS
    )
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out} ({document['total_seconds']} s)")
    if not args.quick and set(wanted) == set(BENCHMARKS) and args.out is None:
        update_readme(document)
        print(f"updated the figures in {README}")


def figures_table(document: dict[str, Any]) -> str:
    """The latest figures as the Markdown table in bench/README.md."""
    b = document["benchmarks"]
    sub, form, comp, mail = b["submit"], b["form"], b["compile"], b["mail"]
    large, season = comp["large_cycle"], comp["season"]

    def yes(flag: bool) -> str:
        return "met" if flag else "**not met**"

    def latency(r: dict[str, Any]) -> str:
        return f"p50 {r['p50_ms']:.0f} / p95 {r['p95_ms']:.0f} / p99 {r['p99_ms']:.0f} ms"

    def submit_rows(name: str, r: dict[str, Any]) -> list[str]:
        u, f, t = r["unqueued"], r["floor"], r["targets"]
        fu, prev = f["unqueued"], r["previous"]["requests_per_second"]
        return [
            f"| {name}, {r['users']} clients | {r['requests_per_second']:.1f} req/s "
            f"({r['ratio_to_previous']:.2f} of the previous {prev:.1f}); {latency(r)} | "
            f"submit's SQL, bare WSGI {f['requests_per_second']:.0f} req/s | "
            f"{r['ratio_to_floor']:.3f} | >= {t['ratio_to_previous_at_least']} of the previous: "
            f"{yes(r['met']['ratio_to_previous'])}; p95 < {t['p95_ms_below']:.0f} ms: "
            f"{yes(r['met']['p95'])} |",
            f"| {name}, {u['users']} clients (unqueued) | {u['requests_per_second']:.1f} req/s; "
            f"{latency(u)} | {fu['requests_per_second']:.0f} req/s; p95 {fu['p95_ms']:.0f} ms "
            f"| {u['requests_per_second'] / max(fu['requests_per_second'], 1e-9):.3f} | p95 < "
            f"{t['unqueued_p95_ms_below']:.0f} ms: {yes(r['met']['p95_unqueued'])} |",
            f"| {name}: stored ballot, {r['ballot_elements']} elements | {r['ballot_bytes']:,} "
            f"bytes (octet_length) | | | |",
        ]

    def form_rows(name: str, r: dict[str, Any]) -> list[str]:
        u, f, t = r["unqueued"], r["floor"], r["targets"]["p95_ms_below"]
        return [
            f"| {name}, {r['users']} clients | {r['requests_per_second']:.1f} req/s; "
            f"{latency(r)} | bare Flask {f['requests_per_second']:.0f} req/s | "
            f"{r['ratio_to_floor']:.3f} | p95 < {t:.0f} ms: {yes(r['met']['p95'])}; >= 0.4 of "
            f"floor: {yes(r['met']['ratio'])} |",
            f"| {name}, {u['users']} clients (unqueued) | {u['requests_per_second']:.1f} req/s; "
            f"{latency(u)} | | | p95 < {t:.0f} ms: {yes(r['met']['p95_unqueued'])} |",
        ]

    rows = [
        f"Run {document['generated_at']} on {document['machine']['cpus']} CPUs, Python "
        f"{document['machine']['python']}, PostgreSQL {document['machine']['postgresql']}; "
        f"the whole run took {document['total_seconds']:.0f} s. Every figure is in "
        "`bench/results.json`.",
        "",
        "| benchmark | figure | floor | ratio | target |",
        "|---|---|---|---|---|",
        *submit_rows("submit (POST /survey)", sub),
        *form_rows("form page (GET /survey)", form),
        "| compile, large cycle ({responses} responses) | figures {fs:.3f} s, peak {fm:.1f} MB "
        "traced; all six files {af:.2f} s, +{am:.0f} MB RSS | pandas {fl:.3f} s | {r:.1f} x "
        "(files {rf:.0f} x) | figures < 0.5 s: {m1}; six files < 5 s: {m2} |".format(
            responses=large["responses"],
            fs=large["figures_seconds"],
            fm=large["figures_peak_traced_mb"],
            af=large["all_files_seconds"],
            am=large["all_files_rss_growth_mb"],
            fl=large["floor_seconds"],
            r=large["ratio_to_floor"],
            rf=large["all_files_ratio_to_floor"],
            m1=yes(large["met"]["figures"]),
            m2=yes(large["met"]["all_files"]),
        ),
        f"| compile, season ({season['cycles']:,} cycles, {season['responses']:,} responses, "
        f"{season['ratings']:,} ratings) | {season['figures_seconds']:.1f} s, peak RSS "
        f"{season['peak_rss_mb']:.0f} MB (+{season['rss_growth_mb']:.0f}) | pandas "
        f"{season['floor_seconds']:.1f} s | {season['ratio_to_floor']:.1f} x | (none set) |",
        f"| mail dispatch ({mail['sent']:,} messages) | {mail['messages_per_second']:.0f} msg/s |"
        f" raw smtplib {mail['floor']['messages_per_second']:.0f} msg/s | "
        f"{mail['ratio_to_floor']:.3f} | >= 0.8 of floor: {yes(mail['met']['ratio'])} |",
    ]
    if "worker" in b:
        w = b["worker"]
        rows.append(
            f"| gunicorn worker after the respondent's path | RSS {w['worker_rss_mb']:.1f} MB; "
            f"PSS {w['worker_pss_mb']:.1f}, USS {w['worker_uss_mb']:.1f} MB | libraries "
            f"imported: RSS {w['libraries_floor_rss_mb']:.1f} MB; libraries working: RSS "
            f"{w['working_floor_rss_mb']:.1f} MB, USS {w['working_floor_uss_mb']:.1f} MB | "
            f"{w['ratio_to_floor']:.2f} / {w['ratio_to_working_floor']:.2f} | RSS < "
            f"{w['target']['rss_mb_below']:.0f} MB: {yes(w['met']['rss'])} |"
        )
    if "sets" in b:
        st, bm = b["sets"]["set"], b["sets"]["benchmark"]
        rows += [
            f"| set report, {st['trusts']} trusts (stored figures) | {st['seconds']:.3f} s | "
            f"pandas {st['floor_seconds']:.3f} s | {st['ratio_to_floor']:.2f} x | < 1 s: "
            f"{yes(st['met'])} |",
            f"| deployment benchmark, {bm['trusts']:,} trusts | {bm['seconds']:.3f} s | pandas "
            f"{bm['floor_seconds']:.3f} s | {bm['ratio_to_floor']:.2f} x | < 10 s: "
            f"{yes(bm['met'])} |",
        ]
    return "\n".join(rows)


def update_readme(document: dict[str, Any]) -> None:
    text = README.read_text()
    start, end = text.index(FIGURES_START), text.index(FIGURES_END)
    README.write_text(
        text[: start + len(FIGURES_START)] + "\n" + figures_table(document) + "\n" + text[end:]
    )


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


if __name__ == "__main__":
    main()
