#!/usr/bin/env python3
"""Draws SASRec's learning curve (validation HR@10 and seconds per epoch) as an SVG, stdlib only.

Input: a JSON list of {"epoch", "loss", "seconds", "valid_hr@10"} — the lines `sasrec_curve` prints
(`cargo run --release -p shopml-benches --bin sasrec_curve -- --data ../shared/datasets/amazon-beauty/Beauty.txt
--epochs 25`), gathered into a list.

usage: python3 benches/sasrec_curve_plot.py benches/data/sasrec_beauty_curve.json benches/sasrec_curve.svg
"""
import json
import sys


def main(src, dst):
    rows = json.load(open(src))
    w, h, m = 560, 320, 50
    xs = [r["epoch"] for r in rows]
    ys = [r["valid_hr@10"] for r in rows]
    x0, x1, y0, y1 = min(xs), max(xs), 0.0, max(0.12, max(ys) * 1.1)
    px = lambda x: m + (x - x0) / max(1, x1 - x0) * (w - 2 * m)
    py = lambda y: h - m - (y - y0) / (y1 - y0) * (h - 2 * m)
    pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<line x1="{m}" y1="{h-m}" x2="{w-m}" y2="{h-m}" stroke="black"/>',
           f'<line x1="{m}" y1="{m}" x2="{m}" y2="{h-m}" stroke="black"/>']
    for t in [0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12]:
        if t <= y1:
            out.append(f'<text x="{m-6}" y="{py(t)+4:.1f}" text-anchor="end">{t:.2f}</text>')
            out.append(f'<line x1="{m}" y1="{py(t):.1f}" x2="{w-m}" y2="{py(t):.1f}" stroke="#ddd"/>')
    for x in xs:
        if x % 5 == 0 or x == x0:
            out.append(f'<text x="{px(x):.1f}" y="{h-m+16}" text-anchor="middle">{x}</text>')
    for ref, label in [(0.095, "target 0.095"), (0.1008, "BSARec (test) 0.1008")]:
        out.append(f'<line x1="{m}" y1="{py(ref):.1f}" x2="{w-m}" y2="{py(ref):.1f}" stroke="#c33" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{w-m-4}" y="{py(ref)-4:.1f}" text-anchor="end" fill="#c33">{label}</text>')
    out.append(f'<polyline points="{pts}" fill="none" stroke="#1f5fa8" stroke-width="2"/>')
    secs = sum(r["seconds"] for r in rows) / len(rows)
    out.append(f'<text x="{w/2}" y="{m-24}" text-anchor="middle" font-size="14">SASRec on Amazon Beauty: validation HR@10 by epoch</text>')
    out.append(f'<text x="{w/2}" y="{m-8}" text-anchor="middle">mean {secs:.1f} s per training epoch (2 cores, release)</text>')
    out.append(f'<text x="{w/2}" y="{h-12}" text-anchor="middle">epoch</text>')
    out.append('</svg>')
    open(dst, "w").write("\n".join(out) + "\n")
    print(f"{dst}: {len(rows)} epochs, best HR@10 {max(ys):.4f} at epoch {xs[ys.index(max(ys))]}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
