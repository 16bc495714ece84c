#!/usr/bin/python3
"""Summarise an interop run: summarize.py OUTDIR (reads the JSON records, srv6-ping's output and
the tshark field tables that run.sh wrote)."""

import csv
import glob
import json
import os
import sys

out = sys.argv[1]


def tsv(name):
    p = os.path.join(out, name + '.fields.tsv')
    if not os.path.exists(p):
        return []
    with open(p) as f:
        return list(csv.DictReader(f, delimiter='\t'))


def cap_line(name):
    rows = tsv(name)
    # tshark's twamp.test (Decode As, no TWAMP-Control) reads every packet with the reply
    # layout, so a test packet shows sender_seq 0: tell them apart by the reflector port
    tests = [r for r in rows if r.get('udp.dstport') == '862']
    replies = [r for r in rows if r.get('udp.srcport') == '862']
    return ('  tshark on h2 (%s): %d STAMP test packets seq %s, %d replies seq/sender_seq %s, Z %s'
            % (name, len(tests), [r['twamp.test.seq_number'] for r in tests], len(replies),
               ['%s/%s' % (r['twamp.test.seq_number'], r['twamp.test.sender_seq_number']) for r in replies],
               sorted({r['twamp.test.error_estimate.z'].split(',')[0] for r in rows})))


order = {'stateless': 0, 'stateful': 1, 'ptp': 2}
for p in sorted(glob.glob(os.path.join(out, 'A-*-sender.json')),
                key=lambda p: (order.get(os.path.basename(p)[2:-len('-sender.json')], 9), p)):
    v = os.path.basename(p)[2:-len('-sender.json')]
    r = json.load(open(p))
    res = r.get('their_results', [])
    bad = [x for x in r['replies'] if not x.get('accepted_by_their_callback')]
    print('A-%s: their sender sent %d, sniffed %d replies, %d results, %d replies they could not take%s'
          % (v, len(r['sent']), len(r['replies']), len(res), len(bad),
             (' (' + '; '.join(sorted({x.get('their_callback_error', '?') for x in bad})) + ')') if bad else ''))
    for x in res:
        d = x['derived_ms']
        print('  t1 %.6f t2 %.6f t3 %.6f t4 %.6f  rtt %.3f ms (their t4 is Python time.now at the callback)'
              % (x['test_pkt_tx_timestamp'], x['test_pkt_rx_timestamp'], x['reply_pkt_tx_timestamp'],
                 x['reply_pkt_rx_timestamp'], d['rtt']))
    for x in r['replies']:
        w = x['wire']
        print('  reply on the wire: seq %s sender_seq %s ssid %s S %s Z %s sender_ttl %s len %s srh %s'
              % (w.get('seq'), w.get('sender_seq'), w.get('ssid'), w['error_estimate']['S'] if 'error_estimate' in w else '?',
                 w['error_estimate']['Z'] if 'error_estimate' in w else '?', w.get('sender_ttl'), w.get('len'),
                 (x['ip'].get('srh') or {}).get('segments')))
    for e in r.get('errors', []):
        print('  error:', e.splitlines()[0] if e else e)
    m = os.path.join(out, 'A-%s-agent-metrics.txt' % v)
    if os.path.exists(m):
        print('  srv6-agent: ' + ', '.join(l.strip().replace('srv6_agent_stamp_', '') for l in open(m)
                                            if l.split()[-1] != '0'))
    print(cap_line('A-%s-h2' % v))

p = os.path.join(out, 'B-reflector.json')
if os.path.exists(p):
    r = json.load(open(p))
    bad = [x for x in r['received'] if not x['their_callback_ok']]
    print('B: their reflector sniffed %d test packets, sent %d replies, %d callback errors%s'
          % (len(r['received']), len(r['replies']), len(bad),
             (' (' + '; '.join(sorted({x['their_callback_error'] for x in bad})) + ')') if bad else ''))
    for e in r.get('errors', []):
        print('  error:', e.splitlines()[0] if e else e)
for k in ('text', 'json', 'shared-clock'):
    p = os.path.join(out, 'B-ping-%s.txt' % k)
    if not os.path.exists(p):
        continue
    lines = open(p).read().splitlines()
    if k == 'json':
        try:
            doc = json.loads('\n'.join(l for l in lines if not l.startswith('#')))
            st = doc.get('summary', {})
            res = doc.get('results', [])
            print('  srv6-ping --json: valid JSON; transmitted %s received %s rtt avg %s ms residence avg %s ms; '
                  'per result: status %s, one_way %s, hop_limit_at_reflector %s'
                  % (st.get('transmitted'), st.get('received'), (st.get('rtt') or {}).get('avg_ms'),
                     (st.get('residence') or {}).get('avg_ms'), sorted({r.get('status') for r in res}),
                     sorted({str(r.get('one_way')) for r in res}),
                     sorted({str(r.get('hop_limit_at_reflector')) for r in res})))
        except ValueError as ex:
            print('  srv6-ping --json: not JSON (%s)' % ex)
        print('  ' + lines[-1])
        continue
    keep = [l for l in lines if 'transmitted' in l or l.startswith('rtt') or l.startswith('# exit')
            or l.startswith('fwd') or l.startswith('back') or l.startswith('reflector')]
    print('  srv6-ping (%s): %s' % (k, ' | '.join(keep)))
print(cap_line('B-h2'))
