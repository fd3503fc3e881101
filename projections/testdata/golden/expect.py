#!/usr/bin/env python3
"""Independent calculation of the golden epochs' shares documents.

Reads every *.jsonl here and writes <name>.epoch<N>.json: the `shares --json`
document of each closed epoch, computed with exact fractions from the rules
of DESIGN.md (not from the Go code): work = ob_score x duration_ms / 3.6e6 of
the accepted render; value = work x usd_per_obh, or a compute task's usd;
a_i = floor(E w_i / W); the remainder one unit each to the largest
(E w_i) mod W, ties by operator_id. Run it after changing a golden log.
"""
import glob, json
from decimal import Decimal, ROUND_HALF_EVEN
from fractions import Fraction as F

def fmt(q):
    # exact half-even rounding to 9 places, printed without exponent
    scaled = q * 10**9
    fl = scaled.numerator // scaled.denominator
    rem = scaled - fl
    if rem > F(1, 2) or (rem == F(1, 2) and fl % 2 == 1):
        fl += 1
    s = format(Decimal(fl).scaleb(-9).quantize(Decimal('1e-9')), 'f')
    s = s.rstrip('0').rstrip('.') if '.' in s else s
    return '0' if s in ('', '-0') else s

for path in sorted(glob.glob('*.jsonl')):
    nodes, jobs, renders = {}, {}, {}
    epoch, work = 1, {}
    for line in open(path):
        e = json.loads(line); d = e['data']; t = e['type']
        if t == 'NodeRegistered': nodes[d['node_id']] = (d['operator_id'], F(d['ob_score']))
        elif t == 'JobSubmitted': jobs[d['job_id']] = F(d['usd_per_obh'])
        elif t == 'FrameRendered': renders[(d['job_id'], d['frame'], d['node_id'])] = d['duration_ms']
        elif t in ('FrameAccepted', 'ComputeWorkCompleted'):
            op, ob = nodes[d['node_id']]
            dur = renders[(d['job_id'], d['frame'], d['node_id'])] if t == 'FrameAccepted' else d['duration_ms']
            obh = ob * dur / 3_600_000
            val = obh * jobs[d['job_id']] if t == 'FrameAccepted' else F(d['usd'])
            w = work.setdefault(op, [F(0), F(0)]); w[0] += obh; w[1] += val
        elif t == 'EpochClosed':
            E = int(d['emission']); W = sum(v[1] for v in work.values())
            ids = sorted(work)
            alloc = {i: (E * work[i][1] // W if W else 0) for i in ids}
            if W:
                R = E - sum(alloc.values())
                order = sorted(ids, key=lambda i: (-((E * work[i][1]) % W), i))
                for i in order[:R]: alloc[i] += 1
            doc = {"epoch": epoch, "emission": str(E),
                   "total_work_obh": fmt(sum((v[0] for v in work.values()), F(0))),
                   "total_work_usd": fmt(W),
                   "operators": [{"operator_id": i, "work_obh": fmt(work[i][0]), "work_usd": fmt(work[i][1]), "allocated": str(alloc[i])} for i in ids]}
            with open(f"{path[:-6]}.epoch{epoch}.json", "w") as out:
                out.write(json.dumps(doc, separators=(',', ':')) + "\n")
            epoch += 1; work = {}
