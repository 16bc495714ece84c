#!/usr/bin/python3
"""Direction A: everywan-io/srv6pm-delay-measurement's STAMP Session-Sender (Python API:
init / create_stamp_session / start_stamp_session(only_collector=False) /
get_stamp_session_results) sends COUNT test packets to a reflector (srv6-agent) and collects the
replies; writes a JSON record.

Instrumentation, without changing their code path: libstamp.send_stamp_packet is wrapped to
keep the bytes of every test packet sent; the sniffer callback stamp_reply_packet_received is
wrapped (before init() builds the sniffer) to keep the bytes of every reply their sniffer
accepted, to decode them with their own parse_stamp_reply_packet and with plain struct
(their_common), and to record any exception their callback raised (a reply they could not
parse) instead of letting it end the sniffer thread. After COUNT packets the session's
stop_flag is set (their sending loop's own stop condition) while the session stays "running",
so late replies still count; then their results are read once (it drains a queue).

Needs root (raw socket, AF_PACKET sniffer, ip6tables raw rule for the sender port, removed by
reset()). Their sniffer only accepts replies carrying an SRH whose next header is UDP."""

import argparse
import json
import logging
import sys
import threading
import time
import traceback

import their_common as tc

from srv6_delay_measurement.sender import STAMPSessionSender  # noqa: E402
from srv6_delay_measurement.libs import libstamp  # noqa: E402
from srv6_delay_measurement.libs.libstamp import (  # noqa: E402
    AuthenticationMode, DelayMeasurementMode, PacketLossType, TimestampFormat)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--iface', required=True, help='interface their sniffer listens on')
    ap.add_argument('--src', required=True, help='source address of the test packets')
    ap.add_argument('--reflector', required=True, help='reflector address (last segment)')
    ap.add_argument('--segs', default='', help='comma-separated segments before --reflector')
    ap.add_argument('--ssid', type=int, default=7)
    ap.add_argument('--count', type=int, default=5)
    ap.add_argument('--interval', type=float, default=0.5)
    ap.add_argument('--sender-port', type=int, default=50000)
    ap.add_argument('--reflector-port', type=int, default=862)
    ap.add_argument('--wait', type=float, default=5.0, help='seconds to wait for late replies')
    ap.add_argument('--out', required=True, help='JSON file to write')
    a = ap.parse_args()
    sidlist = [s for s in a.segs.split(',') if s] + [a.reflector]

    rec = {'role': 'their Session-Sender', 'iface': a.iface, 'src': a.src, 'sidlist': sidlist,
           'ssid': a.ssid, 'count': a.count, 'interval': a.interval, 'sender_port': a.sender_port,
           'timestamps': 'ntp (their sender implements no other: get_timestamp_ptp raises NotImplementedError)', 'sent': [], 'replies': [], 'errors': []}
    lock = threading.Lock()

    orig_send = libstamp.send_stamp_packet

    def send_wrapper(packet, socket=None):
        raw = tc.frame_ip6(packet)
        r = tc.ipv6_udp(raw) or {}
        d = tc.decode_test(r.pop('payload', b''))
        with lock:
            rec['sent'].append({'time': time.time(), 'ip': r, 'stamp': d, 'hex': raw.hex()})
        return orig_send(packet, socket)
    libstamp.send_stamp_packet = send_wrapper

    s = STAMPSessionSender()
    orig_cb = s.stamp_reply_packet_received

    def reply_wrapper(packet):
        t_sniffed = time.time()
        raw = tc.frame_ip6(packet)
        r = tc.ipv6_udp(raw) or {}
        e = {'time': t_sniffed, 'ip': r.copy(), 'hex': raw.hex()}
        e['ip'].pop('payload', None)
        e['wire'] = tc.decode_reply(r.get('payload', b''))
        try:  # their own decoder, on a copy (it re-decodes the UDP payload in place)
            p = libstamp.parse_stamp_reply_packet(packet.copy())
            e['their_parse'] = {k: (v if not isinstance(v, bytes) else v.hex())
                                for k, v in p._asdict().items()}
        except Exception as ex:  # noqa: BLE001
            e['their_parse_error'] = '%s: %s' % (type(ex).__name__, ex)
        try:
            orig_cb(packet)
            e['accepted_by_their_callback'] = True
        except Exception as ex:  # noqa: BLE001
            e['accepted_by_their_callback'] = False
            e['their_callback_error'] = '%s: %s' % (type(ex).__name__, ex)
            e['traceback'] = traceback.format_exc()
            logging.error('their reply callback raised: %s', e['their_callback_error'])
        with lock:
            rec['replies'].append(e)
    s.stamp_reply_packet_received = reply_wrapper

    fmt = TimestampFormat.TIMESTAMP_FORMAT_NTP.value
    status = 1
    try:
        s.init(sender_udp_port=a.sender_port, interfaces=[a.iface], stamp_source_ipv6_address=a.src)
        s.create_stamp_session(
            ssid=a.ssid, reflector_ip=a.reflector, stamp_source_ipv6_address=a.src,
            interval=a.interval,
            auth_mode=AuthenticationMode.AUTHENTICATION_MODE_UNAUTHENTICATED.value, key_chain=None,
            timestamp_format=fmt, packet_loss_type=PacketLossType.PACKET_LOSS_TYPE_ROUND_TRIP,
            delay_measurement_mode=DelayMeasurementMode.DELAY_MEASUREMENT_MODE_TWO_WAY,
            reflector_udp_port=a.reflector_port, segments=sidlist)
        rec['sniffer_start_s'] = tc.wait_sniffer(s.stamp_packet_receiver)
        s.start_stamp_session(ssid=a.ssid, only_collector=False)
        sess = s.stamp_sessions[a.ssid]
        deadline = time.time() + a.count * a.interval + 30
        while sess.sequence_number < a.count and time.time() < deadline:
            time.sleep(0.005)
        sess.stop_flag.set()  # their loop sends nothing more after packet COUNT
        deadline = time.time() + a.wait
        while time.time() < deadline:
            with lock:
                if len(rec['replies']) >= len(rec['sent']) > 0:
                    break
            time.sleep(0.05)
        time.sleep(0.2)
        results = s.get_stamp_session_results(ssid=a.ssid)
        rec['their_results'] = []
        for x in results:
            t1, t2 = x['test_pkt_tx_timestamp'], x['test_pkt_rx_timestamp']
            t3, t4 = x['reply_pkt_tx_timestamp'], x['reply_pkt_rx_timestamp']
            rec['their_results'].append(dict(x, derived_ms={
                'rtt': ((t4 - t1) - (t3 - t2)) * 1e3, 'fwd': (t2 - t1) * 1e3,
                'back': (t4 - t3) * 1e3, 'residence': (t3 - t2) * 1e3,
                't4_minus_t1': (t4 - t1) * 1e3}))
        s.stop_stamp_session(ssid=a.ssid)
        s.destroy_stamp_session(ssid=a.ssid)
        status = 0 if rec['their_results'] else 1
    except Exception as ex:  # noqa: BLE001
        rec['errors'].append('%s: %s' % (type(ex).__name__, ex))
        rec['errors'].append(traceback.format_exc())
        logging.exception('sender failed')
    finally:
        try:
            s.reset()  # stops the sniffer, removes their ip6tables rule, closes sockets
        except Exception as ex:  # noqa: BLE001
            rec['errors'].append('reset: %s: %s' % (type(ex).__name__, ex))
        libstamp.send_stamp_packet = orig_send
        with open(a.out, 'w') as f:
            json.dump(rec, f, indent=1, default=str)

    print('their sender: %d test packets sent, %d replies sniffed, %d results, %d callback errors'
          % (len(rec['sent']), len(rec['replies']), len(rec.get('their_results', [])),
             sum(1 for r in rec['replies'] if not r.get('accepted_by_their_callback'))))
    for r in rec.get('their_results', []):
        d = r['derived_ms']
        print('  t1=%.6f t2=%.6f t3=%.6f t4=%.6f  rtt=%.3f ms fwd=%.3f back=%.3f residence=%.3f'
              % (r['test_pkt_tx_timestamp'], r['test_pkt_rx_timestamp'],
                 r['reply_pkt_tx_timestamp'], r['reply_pkt_rx_timestamp'],
                 d['rtt'], d['fwd'], d['back'], d['residence']))
    for r in rec['replies']:
        w = r['wire']
        print('  reply seq=%s sender_seq=%s ssid=%s Z=%s S=%s sender_ttl=%s len=%s srh=%s%s'
              % (w.get('seq'), w.get('sender_seq'), w.get('ssid'),
                 (w.get('error_estimate') or {}).get('Z'), (w.get('error_estimate') or {}).get('S'),
                 w.get('sender_ttl'), w.get('len'), r['ip'].get('srh'),
                 '' if r.get('accepted_by_their_callback') else '  NOT ACCEPTED: ' + r.get('their_callback_error', '')))
    for e in rec['errors']:
        print('  error:', e.splitlines()[0] if e else e)
    return status


if __name__ == '__main__':
    sys.exit(main())
