"""Shared helpers of the interop drivers: load everywan-io/srv6pm-delay-measurement (the copy
patched for scapy 2.5.0 in ./stampinv/ew, or $STAMPINV_EW) and decode STAMP packets with plain
struct, independently of both implementations, so the JSON records say what was on the wire.
Run with /usr/bin/python3 (the system's scapy 2.5.0, grpcio, netifaces)."""

import datetime
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
EW = os.environ.get('STAMPINV_EW', os.path.join(HERE, 'stampinv', 'ew'))
if EW not in sys.path:
    sys.path.insert(0, EW)

NTP_OFFSET = 2208988800


def errest(v):
    return {'S': v >> 15 & 1, 'Z': v >> 14 & 1, 'scale': v >> 8 & 0x3f, 'multiplier': v & 0xff}


def ts(sec, frac, z):
    """A STAMP timestamp as Unix seconds (float): NTP (Z=0, UTC) or PTPv2 truncated (Z=1, TAI,
    seconds + nanoseconds)."""
    if z == 0:
        return sec - NTP_OFFSET + frac / 2**32
    return sec + frac / 1e9


def iso(t):
    try:
        return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def ipv6_udp(raw_ip6):
    """Walk an IPv6 packet (bytes from its IPv6 header): addresses, hop limit, SRH (segments in
    wire order, Segments Left), UDP ports and payload. None when it holds no UDP."""
    if len(raw_ip6) < 40 or raw_ip6[0] >> 4 != 6:
        return None
    import ipaddress
    out = {'src': str(ipaddress.IPv6Address(raw_ip6[8:24])),
           'dst': str(ipaddress.IPv6Address(raw_ip6[24:40])),
           'hop_limit': raw_ip6[7], 'srh': None}
    nh, off = raw_ip6[6], 40
    while nh in (0, 43, 60) and off + 8 <= len(raw_ip6):
        hlen = 8 + 8 * raw_ip6[off + 1]
        if nh == 43 and raw_ip6[off + 2] == 4:
            n = (hlen - 8) // 16
            out['srh'] = {'segments_left': raw_ip6[off + 3], 'last_entry': raw_ip6[off + 4],
                          'segments': [str(ipaddress.IPv6Address(raw_ip6[off + 8 + 16 * i:off + 24 + 16 * i]))
                                       for i in range(n)]}
        nh, off = raw_ip6[off], off + hlen
    if nh != 17 or off + 8 > len(raw_ip6):
        return None
    sport, dport, ulen, csum = struct.unpack('!HHHH', raw_ip6[off:off + 8])
    out.update(sport=sport, dport=dport, udp_len=ulen, udp_checksum=csum)
    out['payload'] = raw_ip6[off + 8:off + ulen]
    return out


def decode_test(p):
    """RFC 8762 unauthenticated Session-Sender test packet."""
    if len(p) < 44:
        return {'error': 'short (%d bytes)' % len(p)}
    seq, sec, frac, ee, ssid = struct.unpack('!IIIHH', p[:16])
    e = errest(ee)
    return {'len': len(p), 'seq': seq, 'ssid': ssid, 'error_estimate': e,
            't1': ts(sec, frac, e['Z']), 'mbz_zero': not any(p[16:44]), 'tlv_bytes': len(p) - 44}


def decode_reply(p):
    """RFC 8762 unauthenticated Session-Reflector test packet (reply)."""
    if len(p) < 44:
        return {'error': 'short (%d bytes)' % len(p)}
    seq, sec3, frac3, ee, ssid, sec2, frac2, sseq, sec1, frac1, see, mbz1, sttl = \
        struct.unpack('!IIIHHIIIIIHHB', p[:41])
    e, se = errest(ee), errest(see)
    return {'len': len(p), 'seq': seq, 'ssid': ssid, 'error_estimate': e,
            't3': ts(sec3, frac3, e['Z']), 't2': ts(sec2, frac2, e['Z']),
            'sender_seq': sseq, 't1_echoed': ts(sec1, frac1, se['Z']),
            'sender_error_estimate': se, 'sender_ttl': sttl,
            'mbz_zero': mbz1 == 0 and not any(p[41:44]), 'tlv_bytes': len(p) - 44}


def frame_ip6(pkt):
    """The IPv6 bytes of a scapy packet (sniffed Ether frame or built IPv6 packet)."""
    from scapy.layers.inet6 import IPv6
    if IPv6 in pkt:
        return bytes(pkt[IPv6])
    return bytes(pkt)


def wait_sniffer(sniffer, timeout=120.0):
    """Wait until their scapy AsyncSniffer has opened its capture socket: scapy 2.5.0 sets
    continue_sniff right after opening it (the sniffer is built without started_callback).
    Returns the seconds waited, or raises TimeoutError."""
    import time
    t0 = time.time()
    while not getattr(sniffer, 'continue_sniff', False):
        if time.time() - t0 > timeout:
            raise TimeoutError('their sniffer did not start within %.0f s' % timeout)
        if sniffer.thread is not None and not sniffer.thread.is_alive():
            raise RuntimeError('their sniffer thread ended before sniffing')
        time.sleep(0.01)
    time.sleep(0.2)
    return time.time() - t0
