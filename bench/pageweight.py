"""Page benchmark: what the client's Today page weighs and what Lighthouse (mobile) scores it,
with the app's start page (/) measured the same way as the baseline.

    .venv/bin/python bench/pageweight.py     # needs Chromium and `npm ci` (lighthouse 12)

The app runs under gunicorn with the production settings on 127.0.0.1 (SQLite), the session
is made by `flask --app companion demo`. Lighthouse 12 (node_modules, mobile: its default
phone emulation and simulated throttling) runs --runs times per page in Debian's Chromium
with the flags from TESTING.md; each category's score is the median of the runs. The weight
is of what the page itself requests (the HTML, stylesheets and scripts in Lighthouse's
network log; not the service worker's install-time downloads, listed apart): each fetched
again with `Accept-Encoding: gzip` for the bytes as served, and gzipped here (level 6) for
the bytes a compressing proxy would send. For every score below 100 the audits that cost
points are listed. Target: 100 in performance, accessibility, best-practices and seo.
Prints the figures, appends a line to docs/benchmarks.md, and ends with a JSON line.
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import results  # noqa: E402
import serving  # noqa: E402

ROOT = results.ROOT
LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = Path(os.environ.get("CHROME_PATH", "/usr/bin/chromium"))
CHROME_FLAGS = ("--headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run "
                "--disable-background-networking --disable-component-update --disable-sync")
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
PAGE_TYPES = {"Document": "html", "Stylesheet": "css", "Script": "js"}


def lighthouse(url, out, tries=2):
    """One Lighthouse run (mobile); a run that fails (Chrome now and then does) is tried again."""
    argv = [str(LIGHTHOUSE), url, "--output=json", f"--output-path={out}", "--quiet",
            f"--only-categories={','.join(CATEGORIES)}", f"--chrome-flags={CHROME_FLAGS}"]
    for attempt in range(1, tries + 1):
        run = subprocess.run(argv, env={**os.environ, "CHROME_PATH": str(CHROMIUM)}, cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
        if run.returncode == 0:
            report = json.loads(Path(out).read_text())
            if not report.get("runtimeError"):
                return report
            why = report["runtimeError"].get("message", report["runtimeError"])
        else:
            why = (run.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"  Lighthouse run {attempt} failed: {why}", file=sys.stderr, flush=True)
    raise SystemExit(f"Lighthouse failed {tries} times on {url}")


def lost_points(report):
    """Per category below 100: the audits that cost points (weighted, score below 1)."""
    out = {}
    for name in CATEGORIES:
        category = report["categories"][name]
        if category["score"] is not None and category["score"] >= 1:
            continue
        missing = []
        for ref in category["auditRefs"]:
            audit = report["audits"][ref["id"]]
            if ref["weight"] and audit["score"] is not None and audit["score"] < 1:
                items = (audit.get("details") or {}).get("items") or [{}]
                missing.append({"audit": ref["id"], "title": audit["title"],
                                "score": audit["score"], "weight": round(ref["weight"], 1),
                                # e.g. "Est savings of 104 KiB", or what blocks indexing
                                "value": audit.get("displayValue") or items[0].get("source", "")})
        out[name] = missing
    return out


def requests_of(report):
    """(page's own html/css/js, everything else) from Lighthouse's network log."""
    own, other = [], []
    for item in report["audits"]["network-requests"]["details"]["items"]:
        kind = PAGE_TYPES.get(item.get("resourceType"))
        from_page = item.get("sessionTargetType", "page") == "page"
        (own if kind and from_page else other).append(
            {"url": item["url"], "type": kind or item.get("resourceType"),
             "transfer_bytes": item.get("transferSize", 0),
             "target": item.get("sessionTargetType")})
    return own, other


def path_of(url, token):
    """The URL's path for printing, the client's token (a secret) left out."""
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    return path.replace(token, "<token>") if token else path


def weigh(resources, token):
    """Each resource fetched again: bytes as served (gzip asked for), and gzipped here."""
    total = {"raw": 0, "served": 0, "gzip": 0}
    rows = []
    for resource in resources:
        request = urllib.request.Request(resource["url"], headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=30) as response:
            served = response.read()
            encoding = response.headers.get("Content-Encoding", "")
        raw = gzip.decompress(served) if encoding == "gzip" else served
        row = {"type": resource["type"], "path": path_of(resource["url"], token),
               "raw": len(raw), "served": len(served), "served_encoding": encoding or "identity",
               "gzip": len(gzip.compress(raw, compresslevel=6, mtime=0))}
        rows.append(row)
        for key in total:
            total[key] += row[key]
    by_type = {kind: sum(r["gzip"] for r in rows if r["type"] == kind)
               for kind in ("html", "css", "js")}
    return {"total": total, "gzip_by_type": by_type, "resources": rows}


def measure(url, runs, tmp, name, token=None):
    reports = [lighthouse(url, tmp / f"{name}-{i}.json") for i in range(runs)]
    scores = {c: [round(r["categories"][c]["score"] * 100) for r in reports] for c in CATEGORIES}
    median = {c: statistics.median_low(v) for c, v in scores.items()}
    # the run whose performance score is the median one explains the figures
    chosen = next(r for r in reports
                  if round(r["categories"]["performance"]["score"] * 100) == median["performance"])
    own, other = requests_of(chosen)
    return {
        "scores": median, "scores_each_run": scores,
        "metrics": {k: round(chosen["audits"][k]["numericValue"]) for k in
                    ("first-contentful-paint", "largest-contentful-paint", "total-blocking-time",
                     "speed-index")},
        "cumulative_layout_shift":
            round(chosen["audits"]["cumulative-layout-shift"]["numericValue"], 3),
        "lost_points": lost_points(chosen),
        "weight": weigh(own, token),
        "all_requests": {"count": len(own) + len(other),
                         "transfer_bytes": chosen["audits"]["total-byte-weight"]["numericValue"],
                         "others": [{**o, "url": path_of(o["url"], token)} for o in other]},
        "lighthouse": chosen["lighthouseVersion"],
    }


def show(name, figures):
    w = figures["weight"]
    print(f"{name}: " + ", ".join(f"{c} {figures['scores'][c]}" for c in CATEGORIES)
          + f"  (runs: {', '.join(f'{c} {v}' for c, v in figures['scores_each_run'].items())})")
    m = figures["metrics"]
    print(f"  FCP {m['first-contentful-paint']} ms, LCP {m['largest-contentful-paint']} ms, "
          f"TBT {m['total-blocking-time']} ms, CLS {figures['cumulative_layout_shift']}, "
          f"speed index {m['speed-index']} ms (simulated mobile)")
    print(f"  HTML+CSS+JS the page requests: {w['total']['gzip']:,} bytes gzipped "
          f"({', '.join(f'{k} {v:,}' for k, v in w['gzip_by_type'].items())}); "
          f"{w['total']['served']:,} bytes as served, {w['total']['raw']:,} uncompressed")
    for r in w["resources"]:
        print(f"    {r['type']:<4} {r['path'][:56]:<56} {r['raw']:>7,} raw {r['served']:>7,} "
              f"served ({r['served_encoding']}) {r['gzip']:>6,} gzip")
    a = figures["all_requests"]
    print(f"  every request during the load, as served: {a['count']} requests, "
          f"{a['transfer_bytes']:,} bytes (also: " + ", ".join(
              f"{o['type']} {o['url'].split('?')[0]}"
              f"{' (' + o['target'] + ')' if o['target'] not in (None, 'page') else ''}"
              for o in a["others"]) + ")")
    for category, audits in figures["lost_points"].items():
        print(f"  {category} below 100: " + "; ".join(
            f"{a['audit']} (weight {a['weight']:g}, score {a['score']:g}"
            f"{': ' + a['value'] if a['value'] else ''})" for a in audits))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="Lighthouse runs per page (median)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--keep", help="keep the Lighthouse JSON reports in this directory")
    parser.add_argument("--no-record", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()
    if not LIGHTHOUSE.exists():
        raise SystemExit(f"{LIGHTHOUSE} is missing: run `npm ci` in {ROOT} (lighthouse 12 is a "
                         "devDependency in package.json).")
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium (or set CHROME_PATH)")

    load, code = results.load(), results.code_version()
    print(f"page, Lighthouse mobile, median of {args.runs} runs, code {code} "
          f"({results.machine()}, load {load:.2f}):", flush=True)
    with tempfile.TemporaryDirectory(prefix="companion-bench-") as tmp:
        tmp = Path(tmp)
        keep = Path(args.keep) if args.keep else tmp
        keep.mkdir(parents=True, exist_ok=True)
        instance = tmp / "instance"
        token = serving.demo_session(instance, None)
        env = serving.app_env(instance, None)
        with serving.gunicorn("companion:create_app()", env, args.workers,
                              tmp / "gunicorn.log") as (base, _pid):
            serving.wait_ready(f"{base}/s/{token}")
            today = measure(f"{base}/s/{token}", args.runs, keep, "today", token)
            show("Today page (/s/<token>)", today)
            start = measure(f"{base}/", args.runs, keep, "start")
            show("baseline: start page (/)", start)
    met = all(today["scores"][c] == 100 for c in CATEGORIES)
    print(f"  target 100 in every category: {'met' if met else 'MISSED'}")
    if not args.no_record:
        def scores(f):
            return "/".join(str(f["scores"][c]) for c in CATEGORIES)
        results.append_row(
            "page", load, f"Lighthouse {today['lighthouse']} mobile, median of {args.runs}, "
                          f"code {code}",
            f"Today: perf/a11y/bp/seo {scores(today)}; {today['weight']['total']['gzip']:,} B "
            f"gzipped HTML+CSS+JS ({today['weight']['total']['served']:,} B as served); "
            f"LCP {today['metrics']['largest-contentful-paint']} ms, "
            f"TBT {today['metrics']['total-blocking-time']} ms; target 100 each: "
            f"{'met' if met else 'MISSED'}",
            f"start page: {scores(start)}; {start['weight']['total']['gzip']:,} B gzipped "
            f"({start['weight']['total']['served']:,} B as served)")
    print(json.dumps({"benchmark": "page", "load": round(load, 2), "code": code,
                      "runs": args.runs, "today": today, "baseline": {"start_page": start},
                      "target": "100 in performance, accessibility, best-practices and seo",
                      "target_met": met}), flush=True)


if __name__ == "__main__":
    main()
