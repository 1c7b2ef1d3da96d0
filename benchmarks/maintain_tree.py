"""Benchmark: ``python -m fbacache.maintain`` verbs on a ~48k-file FBA tree vs their floors.

Generates an FBA output tree (``amazon_cache`` of ``--files`` entries with ~1% genuinely
corrupt files: cp1252 bytes and torn writes, plus supplier files, a linking map and an ai
category cache), then times each verb as a subprocess against its floor in the same run:

==========================  =====================================================  ======
verb                        floor                                                  target
==========================  =====================================================  ======
``validate``                ``find D -type f -print0 | xargs -0 cat >/dev/null``   <= 2x
``metrics``                 ``du -s D``                                            <= 3x
``backup --full``           ``tar czf`` of the same files                          <= 2x
``restore`` (200 deleted)   ``backup --full`` of the same type                     <= 1.5x
==========================  =====================================================  ======

Runs are interleaved (floor, verb, floor, verb...) ``--repeat`` times with a warm page
cache; each figure is the median, and the ratio is median / median of its floor. Peak RSS
of every child comes from ``wait4``; ``--rss-files`` builds a second, smaller tree so the
table shows whether memory grows with the number of files.

``--only metrics`` (a comma-separated list of verbs) times those verbs and their floors only.
``--installed`` also times each selected verb as users run it: the wheel is built once per run
(``pip wheel --no-build-isolation``) and installed into a temporary venv whose dependencies
come from the running interpreter's site-packages (a ``.pth`` path entry), then run from a
directory outside the checkout. Those rows are named ``VERB (installed)``; the other rows run
the development checkout (``PYTHONPATH`` = the repository, with the editable install's import
hook loaded by ``site`` at every start, ~20-50 ms that a wheel install does not have). The
checkout's modules are byte-compiled once before timing (``compileall``), as pip compiles an
installed wheel: with ``PYTHONDONTWRITEBYTECODE`` set (as in this project's sandboxes) every
run would otherwise compile ~25 modules from source (~0.15 s of each ``validate`` run).

Shapes: key names and the entry size are learned from ``/work/shared/fba`` (or
``--shapes DIR``) when present, from built-in shapes otherwise; contents are generated,
never copied.

Command::

    .venv/bin/python benchmarks/maintain_tree.py --files 48000 --repeat 3 --write-readme
    .venv/bin/python benchmarks/maintain_tree.py --files 48000 --rss-files 0 --repeat 5 \
        --only metrics --installed
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES = "/work/shared/fba/fba-tool-claude/OUTPUTS"
BUILTIN_TOP = ["asin", "asin_queried", "title", "current_price", "rating", "review_count",
               "features", "description", "images", "sales_rank", "category", "brand",
               "extraction_timestamp", "keepa"]
BUILTIN_KEEPA = ["Product Title", "Brand", "Sales Rank - Current", "Buy Box - Current",
                 "Amazon - Current", "New - Current", "FBA Fees", "Referral Fee %",
                 "Categories - Root", "Product Codes - EAN", "Package - Weight (g)",
                 "Reviews - Rating", "Reviews - Review Count", "Bought in past month"]


def learn_shapes(shapes_dir: Optional[str]) -> tuple[list[str], list[str], int]:
    """Key names of amazon entries and of their keepa details, and the median entry size."""
    files = sorted(glob.glob(os.path.join(shapes_dir or "", "FBA_ANALYSIS", "amazon_cache",
                                          "amazon_*.json")))[:200] if shapes_dir else []
    top: dict[str, int] = {}
    keepa: dict[str, int] = {}
    sizes = []
    for path in files:
        try:
            doc = json.load(open(path, encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, OSError):
            continue
        if not isinstance(doc, dict):
            continue
        sizes.append(os.path.getsize(path))
        for k in doc:
            top[k] = top.get(k, 0) + 1
        details = (doc.get("keepa") or {}).get("product_details_tab_data") or {}
        if isinstance(details, dict):
            for k in details:
                keepa[k] = keepa.get(k, 0) + 1
    if len(sizes) < 20:
        return BUILTIN_TOP, BUILTIN_KEEPA, 6600
    common = lambda d: [k for k, n in sorted(d.items(), key=lambda kv: -kv[1])][:60]  # noqa
    return common(top), common(keepa) or BUILTIN_KEEPA, int(statistics.median(sizes))


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(("desk", "lamp", "steel", "kitchen", "set", "pack", "black",
                                "premium", "storage", "garden", "tool", "kids", "home", "LED",
                                "cotton", "travel", "mini", "pro", "large", "with"))
                    for _ in range(n))


def amazon_doc(rng: random.Random, asin: str, top: list[str], keepa: list[str],
               size: int) -> dict[str, Any]:
    """One generated amazon entry with the learned keys, about ``size`` bytes of JSON."""
    doc: dict[str, Any] = {}
    for k in top:
        if k == "keepa":
            continue
        # numbers where the real entries hold numbers (a string rating would give every
        # entry a schema warning, which real trees do not have)
        doc[k] = (asin if "asin" in k else round(rng.uniform(1, 80), 2) if "price" in k
                  else round(rng.uniform(1, 5), 1) if k == "rating"
                  else rng.randint(1, 500000) if ("rank" in k or "count" in k)
                  else _words(rng, rng.randint(3, 12)))
    failed = rng.random() < 0.07
    doc["asin"] = asin
    doc["keepa"] = {"status": "timeout waiting for keepa" if failed
                    else "Extraction process completed",
                    "product_details_tab_data": {} if failed else
                    {k: _words(rng, rng.randint(1, 4)) for k in keepa}}
    pad = size - len(json.dumps(doc))
    if pad > 0:
        doc["description"] = _words(rng, pad // 6)
    return doc


def make_tree(root: str, n: int, shapes: tuple[list[str], list[str], int], seed: int = 7) -> str:
    """Write the tree and its config; returns the config path."""
    rng = random.Random(seed)
    top, keepa, size = shapes
    out = os.path.join(root, "OUTPUTS")
    am = os.path.join(out, "FBA_ANALYSIS", "amazon_cache")
    os.makedirs(am)
    now = time.time()
    links = []
    for i in range(n):
        asin = f"B{i:09d}"
        ean = f"50{i:011d}"
        name = os.path.join(am, f"amazon_{asin}_{ean}.json")
        data = json.dumps(amazon_doc(rng, asin, top, keepa, int(size * rng.uniform(0.4, 1.6))),
                          indent=2, ensure_ascii=False).encode()
        r = rng.random()
        if r < 0.005:
            data = data.replace(b"desk", "d\u00e9sk".encode("cp1252"), 1)  # cp1252 bytes
        elif r < 0.01:
            data = data[: len(data) // 2]  # a torn write
        with open(name, "wb") as fh:
            fh.write(data)
        age = rng.uniform(0, 40 * 86400)
        os.utime(name, (now - age, now - age))
        if i % 3 == 0:
            links.append({"supplier_product_identifier": f"EAN_{ean}", "chosen_amazon_asin": asin,
                          "supplier_title_snippet": _words(rng, 4), "match_method": "EAN"})
    sup = os.path.join(out, "cached_products")
    os.makedirs(sup)
    for s in range(20):
        prods = [{"title": _words(rng, 6), "price": 3.5, "url": f"https://s{s}.example/p{j}",
                  "ean": f"50{s * 1000 + j:011d}", "source_supplier": f"s{s}"}
                 for j in range(200)]
        with open(os.path.join(sup, f"s{s}_example_products_cache.json"), "w") as fh:
            json.dump(prods, fh)
    lm = os.path.join(out, "FBA_ANALYSIS", "Linking map")
    os.makedirs(lm)
    with open(os.path.join(lm, "linking_map.json"), "w") as fh:
        json.dump(links, fh)
    cfg = {"cache": {
        "enabled": True, "ttl_hours": 336,
        "strategies": {"backup": {"retention_policy": {"daily_backups": 2, "weekly_backups": 0,
                                                       "monthly_backups": 0}}},
        "cache_types": {
            "supplier_cache": {"backup_enabled": True, "max_size_mb": 1000},
            "amazon_cache": {"backup_enabled": True, "max_size_mb": 4000},
            "linking_map": {"ttl_hours": -1, "backup_enabled": True}},
        "directories": {"supplier_cache": "OUTPUTS/cached_products",
                        "amazon_cache": "OUTPUTS/FBA_ANALYSIS/amazon_cache",
                        "linking_map": "OUTPUTS/FBA_ANALYSIS/Linking map"}}}
    path = os.path.join(root, "system_config.json")
    with open(path, "w") as fh:
        json.dump(cfg, fh)
    return path


class Installed:
    """The wheel of this checkout installed into a temporary venv (built once per run)."""

    python: Optional[str] = None  # that venv's interpreter, once built
    cwd: str = REPO


def install_wheel(base: str) -> str:
    """Build the wheel, install it into a venv under ``base``; returns its interpreter."""
    wheels, venv = os.path.join(base, "wheel"), os.path.join(base, "venv")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", wheels, REPO], check=True,
                   stdout=subprocess.DEVNULL)
    wheel = glob.glob(os.path.join(wheels, "fbacache-*.whl"))[0]
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = os.path.join(venv, "bin", "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--target", site, wheel], check=True, stdout=subprocess.DEVNULL)
    # the dependencies (msgspec...) as this interpreter has them; a path entry, so the
    # editable install's .pth hook there is not run
    import sysconfig
    with open(os.path.join(site, "_bench_deps.pth"), "w") as fh:
        fh.write(sysconfig.get_path("purelib") + "\n")
    where = subprocess.run([python, "-c", "import fbacache; print(fbacache.__file__)"],
                           check=True, capture_output=True, text=True, cwd=base).stdout
    if not where.startswith(site):
        raise SystemExit(f"the installed wheel is not what runs: {where}")
    Installed.python, Installed.cwd = python, base
    return python


def run(cmd: list[str] | str, *, shell: bool = False) -> tuple[float, int, int]:
    """``(seconds, peak RSS in KiB, exit code)`` of one child process.

    A command run by the installed venv's interpreter starts outside the checkout, with no
    ``PYTHONPATH``, so it imports the installed wheel.
    """
    installed = not shell and Installed.python is not None and cmd[0] == Installed.python
    env = dict(os.environ)
    if installed:
        env.pop("PYTHONPATH", None)
    else:
        env["PYTHONPATH"] = REPO
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, shell=shell, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                             env=env, cwd=Installed.cwd if installed else REPO)
    _, status, usage = os.wait4(child.pid, 0)
    return time.perf_counter() - t0, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def maintain(cfg: str, *args: str, python: Optional[str] = None) -> list[str]:
    """argv of one maintain run on ``cfg`` (by ``python``: default, this interpreter)."""
    return [python or sys.executable, "-m", "fbacache.maintain", *args, "--config", cfg]


def delete_some(d: str, k: int, seed: int) -> None:
    """Delete ``k`` entries, as the operator's accident before a restore."""
    names = sorted(n for n in os.listdir(d) if n.startswith("amazon_"))
    for n in random.Random(seed).sample(names, k):
        os.unlink(os.path.join(d, n))


VERB_FLOORS = {"validate": ["floor: find+cat"], "metrics": ["floor: du -s"],
               "backup": ["floor: tar czf", "backup --full", "backup (incremental)"],
               "restore": ["backup --full", "restore (200 deleted)"]}


def bench(root: str, cfg: str, repeat: int,
          only: Optional[list[str]] = None) -> dict[str, dict[str, float]]:
    """Interleaved medians of every verb (or the verbs in ``only``) and their floors on the
    tree at ``root``; with an installed wheel, each verb also as ``VERB (installed)``."""
    d = os.path.join(root, "OUTPUTS", "FBA_ANALYSIS", "amazon_cache")
    tar_out = os.path.join(root, "floor.tar.gz")
    q = shlex_quote
    cases = {
        "floor: find+cat": (f"find {q(d)} -type f -print0 | xargs -0 cat >/dev/null", True),
        "validate": (maintain(cfg, "validate", "--cache-type", "amazon_cache"), False),
        "floor: du -s": (f"du -s {q(d)} >/dev/null", True),
        "metrics": (maintain(cfg, "metrics", "--cache-type", "amazon_cache"), False),
        "floor: tar czf": (f"tar czf {q(tar_out)} -C {q(d)} .", True),
        "backup --full": (maintain(cfg, "backup", "--cache-type", "amazon_cache", "--full"), False),
        "backup (incremental)": (maintain(cfg, "backup", "--cache-type", "amazon_cache"), False),
        "restore (200 deleted)": (maintain(cfg, "restore", "--cache-type", "amazon_cache",
                                           "--yes"), False),
    }
    keep = None if not only else {c for v in only for c in [v, *VERB_FLOORS[v]]}
    if Installed.python is not None:
        for name, (cmd, shell) in list(cases.items()):
            if not shell:
                cases[f"{name} (installed)"] = ([Installed.python, *cmd[1:]], False)
    if keep is not None:
        cases = {k: v for k, v in cases.items()
                 if k in keep or k.removesuffix(" (installed)") in keep}
    run(f"find {q(d)} -type f -print0 | xargs -0 cat >/dev/null", shell=True)  # warm the cache
    times: dict[str, list[float]] = {k: [] for k in cases}
    rss: dict[str, int] = {}
    for r in range(repeat):
        for name, (cmd, shell) in cases.items():
            if name.startswith("restore"):
                # restore the newest full backup, as after an accident
                py = Installed.python if name.endswith("(installed)") else None
                run(maintain(cfg, "backup", "--cache-type", "amazon_cache", "--full", python=py))
                delete_some(d, 200, r)
            secs, peak, code = run(cmd, shell=shell)
            if code not in (0, 1, 2):
                raise SystemExit(f"{name} failed with exit code {code}")
            times[name].append(secs)
            rss[name] = max(rss.get(name, 0), peak)
    return {k: {"median": statistics.median(v), "rss_kib": rss[k]} for k, v in times.items()}


def shlex_quote(s: str) -> str:
    """Shell-quote ``s``."""
    import shlex
    return shlex.quote(s)


RATIOS = [("validate", "floor: find+cat", 2.0), ("metrics", "floor: du -s", 3.0),
          ("backup --full", "floor: tar czf", 2.0),
          ("restore (200 deleted)", "backup --full", 1.5),
          ("backup (incremental)", "backup --full", None)]
RATIOS = [row for verb, floor, target in RATIOS
          for row in ((verb, floor, target), (f"{verb} (installed)",
                                              floor if floor.startswith("floor")
                                              else f"{floor} (installed)", target))]


def table(res: dict[str, dict[str, float]], small: Optional[dict[str, dict[str, float]]],
          n: int, n_small: int) -> str:
    """The markdown table of medians, ratios, targets and peak RSS."""
    head = "| verb | median s | floor | floor s | ratio | target | peak RSS |"
    if small:
        head += f" peak RSS at {n_small} files |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for verb, floor, target in RATIOS:
        if verb not in res or floor not in res:
            continue
        ratio = res[verb]["median"] / res[floor]["median"]
        ok = "" if target is None else (f"<= {target:g}x " + ("met" if ratio <= target
                                                                else "MISSED"))
        row = (f"| {verb} | {res[verb]['median']:.2f} | {floor} | {res[floor]['median']:.2f} | "
               f"{ratio:.2f}x | {ok} | {res[verb]['rss_kib'] / 1024:.0f} MiB |")
        if small:
            row += (f" {small[verb]['rss_kib'] / 1024:.0f} MiB |" if verb in small
                    else " |")
        lines.append(row)
    return "\n".join(lines)


def main() -> None:
    """Build the trees, run the benchmark, print (and optionally record) the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=48000)
    ap.add_argument("--rss-files", type=int, default=12000,
                    help="size of the second tree for the memory column (0: skip)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shapes", default=SHAPES if os.path.isdir(SHAPES) else None)
    ap.add_argument("--dir", default=None, help="where to build the trees (default: a temp dir)")
    ap.add_argument("--only", default=None, metavar="VERBS",
                    help="comma-separated verbs to time (with their floors): "
                         + ", ".join(VERB_FLOORS) + " (default: all)")
    ap.add_argument("--installed", action="store_true",
                    help="also time each verb from the wheel installed into a temporary "
                         "venv (built once per run), as users run it")
    ap.add_argument("--write-readme", action="store_true",
                    help="replace the maintain_tree section of benchmarks/README.md")
    args = ap.parse_args()
    only = args.only.split(",") if args.only else None
    if only and not set(only) <= set(VERB_FLOORS):
        ap.error(f"--only: verbs are {', '.join(VERB_FLOORS)}")
    if args.write_readme and only:
        ap.error("--write-readme records the full table: not with --only")
    shapes = learn_shapes(args.shapes)
    # the editable rows use .pyc files, as any installed copy does (see the docstring)
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(REPO, "fbacache")],
                   check=True, stdout=subprocess.DEVNULL)
    base = tempfile.mkdtemp(prefix="fba-bench-", dir=args.dir)
    try:
        if args.installed:
            t0 = time.time()
            install_wheel(base)
            print(f"wheel built and installed in {time.time() - t0:.0f} s", file=sys.stderr)
        t0 = time.time()
        cfg = make_tree(os.path.join(base, "big"), args.files, shapes)
        print(f"tree of {args.files} entries built in {time.time() - t0:.0f} s "
              f"(median entry ~{shapes[2]} B, shapes from {args.shapes or 'built-in'})",
              file=sys.stderr)
        res = bench(os.path.join(base, "big"), cfg, args.repeat, only)
        small = None
        if args.rss_files:
            shutil.rmtree(os.path.join(base, "big"))
            cfg_s = make_tree(os.path.join(base, "small"), args.rss_files, shapes)
            small = bench(os.path.join(base, "small"), cfg_s, 1, only)
        out = table(res, small, args.files, args.rss_files)
        print(out)
        if args.write_readme:
            write_readme(out, args)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def write_readme(text: str, args: argparse.Namespace) -> None:
    """Put ``text`` under the ``maintain_tree`` heading of benchmarks/README.md."""
    path = os.path.join(REPO, "benchmarks", "README.md")
    start, end = "<!-- maintain_tree:start -->", "<!-- maintain_tree:end -->"
    notes_mark = "<!-- maintain_tree:notes -->"
    cmd = (f".venv/bin/python benchmarks/maintain_tree.py --files {args.files} "
           f"--rss-files {args.rss_files} --repeat {args.repeat}"
           f"{' --installed' if args.installed else ''} --write-readme")
    block = (f"{start}\n## maintain on a {args.files}-file FBA tree\n\n`{cmd}`\n\n"
             f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end of the run "
             "(shared machine: ratios are medians of interleaved runs, each against its floor "
             f"in the same run).\n\n{text}\n{{notes}}{end}")
    old = open(path).read()
    # the hand-written analysis below the table (after the notes marker) is kept
    notes = ""
    if notes_mark in old and end in old:
        notes = "\n" + old[old.index(notes_mark):old.index(end)]
    block = block.replace("{notes}", notes)
    if start in old:
        new = old[:old.index(start)] + block + old[old.index(end) + len(end):]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as fh:
        fh.write(new)


if __name__ == "__main__":
    main()
