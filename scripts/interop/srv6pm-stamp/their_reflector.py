#!/usr/bin/python3
"""Direction B: everywan-io/srv6pm-delay-measurement's STAMP Session-Reflector (Python API:
init / create_stamp_session / start_stamp_session) answers test packets (srv6-ping --stamp)
until SIGTERM/SIGINT or --duration; writes a JSON record.

Instrumentation, without changing their code path: the sniffer callback
stamp_test_packet_received is wrapped (before init() builds the sniffer) to keep the bytes of
every test packet their sniffer accepted, decode them with plain struct (their_common) and
record any exception their callback raised; libstamp.send_stamp_packet is wrapped to keep the
bytes of every reply they send. --ready FILE is written once the session runs and the sniffer
has opened its socket.

Their reflector: stateless mode only (stateful raises NotImplementedError), NTP only; the reply
goes to the first return segment with an SRH of the return segments (the test packet's source
address is not used: the last return segment must be the sender); its sniffer only accepts test
packets that carry an SRH whose next header is UDP. Needs root (raw socket, AF_PACKET sniffer,
ip6tables raw DROP rule for the reflector port, removed by reset())."""

import argparse
import json
import logging
import signal
import sys
import threading
import time
import traceback

import their_common as tc

from srv6_delay_measurement.reflector import STAMPSessionReflector  # noqa: E402
from srv6_delay_measurement.libs import libstamp  # noqa: E402
from srv6_delay_measurement.libs.libstamp import (  # noqa: E402
    AuthenticationMode, SessionReflectorMode, TimestampFormat)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--iface', required=True, help='interface their sniffer listens on')
    ap.add_argument('--src', required=True, help='source address of the replies')
    ap.add_argument('--return-segs', required=True,
                    help='comma-separated return segment list, ending with the sender address')
    ap.add_argument('--ssid', type=int, default=7)
    ap.add_argument('--port', type=int, default=862)
    ap.add_argument('--duration', type=float, default=600, help='stop after this many seconds')
    ap.add_argument('--ready', help='file to create once the reflector runs')
    ap.add_argument('--out', required=True, help='JSON file to write')
    a = ap.parse_args()
    segs = [s for s in a.return_segs.split(',') if s]

    rec = {'role': 'their Session-Reflector', 'iface': a.iface, 'src': a.src,
           'return_segs': segs, 'ssid': a.ssid, 'port': a.port, 'mode': 'stateless',
           'timestamps': 'ntp', 'received': [], 'replies': [], 'errors': []}
    lock = threading.Lock()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    orig_send = libstamp.send_stamp_packet

    def send_wrapper(packet, socket=None):
        raw = tc.frame_ip6(packet)
        r = tc.ipv6_udp(raw) or {}
        d = tc.decode_reply(r.pop('payload', b''))
        with lock:
            rec['replies'].append({'time': time.time(), 'ip': r, 'stamp': d, 'hex': raw.hex()})
        return orig_send(packet, socket)
    libstamp.send_stamp_packet = send_wrapper

    refl = STAMPSessionReflector()
    orig_cb = refl.stamp_test_packet_received

    def test_wrapper(packet):
        t_sniffed = time.time()
        raw = tc.frame_ip6(packet)
        r = tc.ipv6_udp(raw) or {}
        e = {'time': t_sniffed, 'ip': r.copy(), 'hex': raw.hex()}
        e['ip'].pop('payload', None)
        e['wire'] = tc.decode_test(r.get('payload', b''))
        n_before = len(rec['replies'])
        try:
            orig_cb(packet)
            e['their_callback_ok'] = True
        except Exception as ex:  # noqa: BLE001
            e['their_callback_ok'] = False
            e['their_callback_error'] = '%s: %s' % (type(ex).__name__, ex)
            e['traceback'] = traceback.format_exc()
            logging.error('their test packet callback raised: %s', e['their_callback_error'])
        e['answered'] = len(rec['replies']) > n_before
        with lock:
            rec['received'].append(e)
        w = e['wire']
        logging.info('test packet from %s seq=%s ssid=%s Z=%s len=%s srh=%s -> %s',
                     r.get('src'), w.get('seq'), w.get('ssid'),
                     (w.get('error_estimate') or {}).get('Z'), w.get('len'), r.get('srh'),
                     'answered' if e['answered'] else 'NOT answered')
    refl.stamp_test_packet_received = test_wrapper

    status = 1
    try:
        refl.init(reflector_udp_port=a.port, interfaces=[a.iface], stamp_source_ipv6_address=a.src)
        refl.create_stamp_session(
            ssid=a.ssid, stamp_source_ipv6_address=a.src,
            auth_mode=AuthenticationMode.AUTHENTICATION_MODE_UNAUTHENTICATED.value, key_chain=None,
            timestamp_format=TimestampFormat.TIMESTAMP_FORMAT_NTP.value,
            session_reflector_mode=SessionReflectorMode.SESSION_REFLECTOR_MODE_STATELESS.value,
            reflector_udp_port=a.port, segments=segs)
        refl.start_stamp_session(ssid=a.ssid)
        rec['sniffer_start_s'] = tc.wait_sniffer(refl.stamp_packet_receiver)
        if a.ready:
            open(a.ready, 'w').close()
        logging.info('their reflector ready on %s port %d, SSID %d, return segments %s',
                     a.iface, a.port, a.ssid, segs)
        stop.wait(a.duration)
        refl.stop_stamp_session(ssid=a.ssid)
        refl.destroy_stamp_session(ssid=a.ssid)
        status = 0
    except Exception as ex:  # noqa: BLE001
        rec['errors'].append('%s: %s' % (type(ex).__name__, ex))
        rec['errors'].append(traceback.format_exc())
        logging.exception('reflector failed')
    finally:
        try:
            refl.reset()
        except Exception as ex:  # noqa: BLE001
            rec['errors'].append('reset: %s: %s' % (type(ex).__name__, ex))
        libstamp.send_stamp_packet = orig_send
        with open(a.out, 'w') as f:
            json.dump(rec, f, indent=1, default=str)
    print('their reflector: %d test packets sniffed, %d replies sent, %d callback errors'
          % (len(rec['received']), len(rec['replies']),
             sum(1 for r in rec['received'] if not r['their_callback_ok'])))
    for r in rec['replies']:
        d = r['stamp']
        print('  reply seq=%s sender_seq=%s ssid=%s t2=%.6f t3=%.6f (t3-t2=%.3f ms) sender_ttl=%s to %s srh=%s'
              % (d.get('seq'), d.get('sender_seq'), d.get('ssid'), d.get('t2', 0), d.get('t3', 0),
                 (d.get('t3', 0) - d.get('t2', 0)) * 1e3, d.get('sender_ttl'), r['ip'].get('dst'),
                 r['ip'].get('srh')))
    return status


if __name__ == '__main__':
    sys.exit(main())
