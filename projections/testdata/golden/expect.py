#!/usr/bin/env python3
"""Independent calculation of the golden epochs' shares documents.

Reads every *.jsonl here and writes <name>.epoch<N>.json: the `shares --json`
document of each closed epoch, computed with exact fractions from the rules
of DESIGN.md (not from the Go code): work = ob_score x duration_ms / 3.6e6 of
the accepted render; value = work x usd_per_obh, or a compute task's usd;
a_i = floor(E w_i / W); the remainder one unit each to the largest
(E w_i) mod W, ties by operator_id. Run it after changing a golden log.

Reward channels (v2, logs with an EmissionScheduleSet or an EpochClosed with
channels; their documents list the channels of every epoch): each EpochClosed's
channels (or job = emission without them) must equal the schedule in force
(greatest effective_epoch <= N, the later stored of equal ones); job is split
as above, availability by RNP-015 points evaluated in Python's decimal at 80
significant digits (ln, exp) and floored at 10^18, then by largest remainder
over the operators' summed points. The documents of the other logs keep the
form they had before channels, byte for byte: proof that old logs fold as
they did.
"""
import glob, json
from decimal import Decimal, ROUND_HALF_EVEN, ROUND_FLOOR, getcontext
from fractions import Fraction as F

getcontext().prec = 80
D = Decimal

def split(E, weights):
    """Largest remainder: floor(E w_i / W), the rest one unit each to the
    largest (E w_i) mod W, ties by operator_id; W = 0: all unallocated."""
    ids = sorted(weights); W = sum(weights.values())
    alloc = {i: (E * weights[i] // W if W else 0) for i in ids}
    if W:
        R = E - sum(alloc.values())
        order = sorted(ids, key=lambda i: (-((E * weights[i]) % W), i))
        for i in order[:R]: alloc[i] += 1
    return alloc, (E if not W else 0)

def ratio(x, m):
    if m <= 1: return D(1)
    r = x.ln() / m.ln()
    return r if r > 0 else D(0)

def floor_points(v):
    fl = int(v.to_integral_value(rounding=ROUND_FLOOR))
    if D(fl + 1) - v < D('1e-40'): fl += 1   # an exact integer, not one below
    return fl

def availability(epoch, recs, nodes):
    """points per node of the eligible nodes and rank, RNP-015 made exact."""
    el = []
    for nid, (win, on, busy) in sorted(recs.items()):
        op, ob, vram, reg = nodes[nid]
        if vram and on - busy > 0:
            el.append((nid, op, D(str(ob.numerator)) / D(str(ob.denominator)), D(vram), D(epoch - reg + 1), D(on - busy) / D(win)))
    if not el: return {}
    n = D(len(el))
    mOB = sum(e[2] for e in el) / n; mV = sum(e[3] for e in el) / n; mA = sum(e[4] for e in el) / n
    byop = {}
    for nid, op, ob, vram, age, idle in el:
        raw = idle * (3 * ratio(ob, mOB) + 3 * ratio(vram, mV) + ratio(age, mA))
        byop.setdefault(op, []).append((raw, nid))
    pts = {}
    for op, lst in byop.items():
        lst.sort(key=lambda t: (-t[0], t[1]))
        for k, (raw, nid) in enumerate(lst, 1):
            pen = D(1) if k <= 3 else (D(-13 * (k - 3)) / D(20)).exp()
            pts[nid] = (op, k, floor_points(raw * pen * D(10) ** 18))
    return pts

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
    v2 = any(json.loads(l)['type'] == 'EmissionScheduleSet' or 'channels' in json.loads(l)['data'] for l in open(path))
    nodes, jobs, renders = {}, {}, {}
    epoch, work = 1, {}
    schedules, recs, avnodes = [], {}, {}
    for line in open(path):
        e = json.loads(line); d = e['data']; t = e['type']
        if t == 'NodeRegistered':
            nodes[d['node_id']] = (d['operator_id'], F(d['ob_score']))
            avnodes[d['node_id']] = (d['operator_id'], F(d['ob_score']), d.get('vram_gb', 0), epoch)
        elif t == 'EmissionScheduleSet':
            assert d['effective_epoch'] > epoch - 1, 'retroactive schedule'
            schedules.append((d['effective_epoch'], {k: int(D(v) * 10**8) for k, v in d['channels'].items()}))
        elif t == 'NodeAvailability':
            assert d['epoch'] == epoch and d['node_id'] not in recs
            recs[d['node_id']] = (d['window_ms'], d['online_ms'], d['busy_ms'])
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
            chans = {k: int(v) for k, v in d.get('channels', {'job': E}).items()}
            assert sum(chans.values()) == E
            inforce = None
            for eff, ch in schedules:
                if eff <= epoch and (inforce is None or eff >= inforce[0]): inforce = (eff, ch)
            if inforce: assert chans == inforce[1], 'channels differ from the schedule in force'
            order = [c for c in ('job', 'availability') if c in chans]
            pts = availability(epoch, recs, avnodes) if 'availability' in chans else {}
            oppts = {}
            for nid, (op, k, p) in pts.items(): oppts[op] = oppts.get(op, 0) + p
            per = {}
            tops = {}
            for c in order:
                a, un = split(chans[c], {i: work[i][1] for i in work} if c == 'job' else oppts)
                per[c] = a
                tops[c] = {"emission": str(chans[c]), "allocated": str(chans[c] - un), "unallocated": str(un)}
            ids = sorted(set(work) | set(oppts))
            z = [F(0), F(0)]
            if v2:
                doc = {"epoch": epoch, "emission": str(E),
                       "total_work_obh": fmt(sum((v[0] for v in work.values()), F(0))),
                       "total_work_usd": fmt(W), "channels": tops,
                       "operators": [{"operator_id": i, "work_obh": fmt(work.get(i, z)[0]), "work_usd": fmt(work.get(i, z)[1]),
                                      "allocated": str(sum(per[c].get(i, 0) for c in order)),
                                      "channels": {c: str(per[c].get(i, 0)) for c in order},
                                      "availability_points": str(oppts.get(i, 0))} for i in ids]}
            else:
                doc = {"epoch": epoch, "emission": str(E),
                       "total_work_obh": fmt(sum((v[0] for v in work.values()), F(0))),
                       "total_work_usd": fmt(W),
                       "operators": [{"operator_id": i, "work_obh": fmt(work[i][0]), "work_usd": fmt(work[i][1]), "allocated": str(per['job'][i])} for i in ids]}
            with open(f"{path[:-6]}.epoch{epoch}.json", "w") as out:
                out.write(json.dumps(doc, separators=(',', ':')) + "\n")
            epoch += 1; work = {}; recs = {}
