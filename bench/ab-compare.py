"""Per mix, eclip-fit's STP ÷ baseline's, worst worker and worst p95 under each arm of bench/ab-calibration.sh (its
runs: parts, folders holding results.json), and each arm's STP less the first arm's. Run in the series' folder:
    python3 ../../../bench/ab-compare.py ship=s1,s2 cand=c1,c2 [LABEL=PART,... ...] > compare.txt
A run may be PART+PART: one round of an arm made in two calls (the second part the mixes the first ran out of time
before). The mixes are those of the first arm's first run. Each arm's STP is the mean of its runs' ratios; its worst
worker the lowest and its worst p95 the highest of its runs."""
import json
import statistics as st
import sys


def runs(part):
    out = {}
    for p in part.split('+'):
        r = json.load(open(f'{p}/results.json'))
        out.update({x['mix']: x for x in r['runs'] if x['backend'] == 'gpu' and x['policy'] == 'eclip-fit'})
    return out


def cell(label, parts, names, m):
    missing = [n for n, d in zip(names, parts) if m not in d]
    if missing:
        sys.exit(f"arm {label}: no eclip-fit run of {m} in {', '.join(missing)} (a part stopped early?)")
    rs = [d[m] for d in parts]
    stp = st.mean(x['metrics']['system']['stpVsBaseline'] for x in rs)
    lo = min(rs, key=lambda x: x['metrics']['system']['worstVsBaseline'])['metrics']['system']
    hi = max((w for x in rs for w in x['workers']), key=lambda w: w['p95VsBaseline'])
    return stp, lo['worstVsBaseline'], lo['worstWorker'], hi['p95VsBaseline'], hi['name']


def main(args):
    arms = [a.split('=', 1) for a in args]
    if len(arms) < 2 or any(len(a) != 2 for a in arms):
        sys.exit('usage: ab-compare.py LABEL=PART,PART LABEL=PART,PART [...] (the first arm is the reference)')
    names = {label: parts.split(',') for label, parts in arms}
    data = {label: [runs(p) for p in ps] for label, ps in names.items()}
    labels = [label for label, _ in arms]
    ref = labels[0]
    mixes = list(data[ref][0])
    # each arm's columns: STP, worst worker (ratio, name), worst p95 (ratio, name)
    width = {label: max(8, len(label) + 4) for label in labels}
    delta = {label: max(10, len(label) + len(ref) + 1) for label in labels[1:]}
    f = lambda label, c: f"{c[0]:{width[label]}.3f} {c[1]:5.3f} {c[2]:>12} {c[3]:5.3f} {c[4]:>12}"
    head = '   '.join(f"{label + ' STP':>{width[label]}} {'worst':>18} {'p95':>18}" for label in labels)
    print(f"{'mix':6} {head}  " + ' '.join(f"{label + '−' + ref:>{delta[label]}}" for label in labels[1:]))
    tot = {label: [] for label in labels}
    for m in mixes:
        cs = {label: cell(label, data[label], names[label], m) for label in labels}
        for label in labels:
            tot[label].append(cs[label])
        print(f"{m:6} " + '   '.join(f(label, cs[label]) for label in labels) + '  ' +
              ' '.join(f"{cs[label][0] - cs[ref][0]:+{delta[label]}.3f}" for label in labels[1:]))
    means = {label: st.mean(x[0] for x in tot[label]) for label in labels}
    g = lambda t: f"{min(x[1] for x in t):5.3f} {'':>12} {max(x[3] for x in t):5.3f} {'':>12}"
    print(f"{'mean':6} " + '   '.join(f"{means[label]:{width[label]}.4f} {g(tot[label])}" for label in labels) + '  ' +
          ' '.join(f"{means[label] - means[ref]:+{delta[label]}.4f}" for label in labels[1:]))
    print("each arm: the mean of its runs' STP ratios; worst worker the lowest, worst p95 the highest of its runs;")
    print("the last row: the mean STP over the mixes, the lowest worst worker and the highest worst p95 of all of them")


if __name__ == '__main__':
    main(sys.argv[1:])
