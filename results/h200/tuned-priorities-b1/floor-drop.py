# The tuning window's worst worker against the same worker in the plan's own run, over every tuned GPU run recorded
# under results/ (run from the repository's root): how far a worker measured just over its held floor can land.
import glob, json, os, statistics as st

rows = []
for f in glob.glob('results/**/results.json', recursive=True):
    d = os.path.dirname(f)
    for x in json.load(open(f)).get('runs', []):
        if x.get('backend') != 'gpu' or not str(x.get('policy', '')).startswith('eclip-fit'):
            continue
        b = x['workers'][0]['batch']
        pf = glob.glob(f"{d}/plans/{x['mix']}.eclip-fit.b{b}.plan.json")
        t = json.load(open(pf[0])).get('solver', {}).get('tuning') if pf else None
        if not t or 'worstWorker' not in t:
            continue
        w = {w['name']: w for w in x['workers']}.get(t['worstWorker'])
        if w:
            rows.append((w['normVsBaseline'] - t['worstVsBaseline'], b, d, x['mix'], t['worstWorker'],
                         t['worstVsBaseline'], w['normVsBaseline']))
print(f'{len(rows)} tuned runs: the window\'s worst worker, its own run − its window')
for b in (1, 8):
    ds = [r[0] for r in rows if r[1] == b]
    print(f'batch {b}: {len(ds)} runs, mean {st.mean(ds):+.4f}, sd {st.pstdev(ds):.4f}, min {min(ds):+.4f}')
print('the largest drops:')
for r in sorted(rows)[:6]:
    print(f'  {r[0]:+.3f}  {r[2]} {r[3]} {r[4]}: window {r[5]:.3f}, run {r[6]:.3f}')
