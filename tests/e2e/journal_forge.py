#!/usr/bin/env python3
"""journal_forge.py - what an attacker with write access to journal.log can do
to it, for the end-to-end tests (tests/e2e/test_journal_seal.sh). The format
is docs/journal-format.md: twelve fields, field 12 the chain value
SHA-256(previous chain || the line up to the space before the chain).

  journal_forge.py append-issued LOG CSR.pem CERT.pem SOURCE
      appends an `issued` record for CSR holding CERT, chain recomputed;
      prints its seq
  journal_forge.py replace-cert LOG SEQ CERT.pem
      puts CERT in record SEQ's certificate field and recomputes the chain
      of every record from SEQ on; prints the seqs of the checkpoints after
      SEQ (their signatures no longer verify)
  journal_forge.py message LOG SEQ
      prints the message the checkpoint SEQ signs (with its newline)
  journal_forge.py resign LOG SEQ SIG.der
      puts SIG (DER) in checkpoint SEQ's signature field and recomputes the
      chain from SEQ on
  journal_forge.py seq-of LOG EVENT FIELD VALUE
      prints the seq of the last record of EVENT whose FIELD (1-based) is VALUE
"""
import base64
import hashlib
import subprocess
import sys
import time


def read(log):
    with open(log, 'rb') as f:
        lines = f.read().split(b'\n')
    assert lines[-1] == b'', 'the journal does not end in a newline'
    return lines[:-1]


def write(log, lines):
    with open(log, 'wb') as f:
        f.write(b''.join(line + b'\n' for line in lines))


def rechain(lines, start):
    """Recomputes the chain of records START.. (line START is record START)."""
    prev = hashlib.sha256(lines[0]).digest() if start == 1 else bytes.fromhex(lines[start - 1].rsplit(b' ', 1)[1].decode())
    for i in range(start, len(lines)):
        body = lines[i].rsplit(b' ', 1)[0]
        prev = hashlib.sha256(prev + body).digest()
        lines[i] = body + b' ' + prev.hex().encode()


def der_of(pem_path, kind):
    return subprocess.run(['openssl', kind, '-in', pem_path, '-outform', 'DER'], check=True,
                          capture_output=True).stdout


def spki_of(csr_path):
    pem = subprocess.run(['openssl', 'req', '-in', csr_path, '-noout', '-pubkey'], check=True,
                         capture_output=True).stdout
    return subprocess.run(['openssl', 'pkey', '-pubin', '-outform', 'DER'], input=pem, check=True,
                          capture_output=True).stdout


def pct(text):
    out = ''
    for b in text.encode():
        out += '%%%02X' % b if b < 0x21 or b > 0x7e or b == 0x25 else chr(b)
    return out


def append_issued(log, csr, cert, source):
    lines = read(log)
    seq = len(lines)
    cert_der = der_of(cert, 'x509')
    serial = subprocess.run(['openssl', 'x509', '-in', cert, '-noout', '-serial'], check=True,
                            capture_output=True, text=True).stdout.strip().split('=')[1].lower()
    if len(serial) % 2:
        serial = '0' + serial
    subject = subprocess.run(['openssl', 'req', '-in', csr, '-noout', '-subject', '-nameopt', 'RFC2253'],
                             check=True, capture_output=True, text=True).stdout
    device = [p.split('=', 1)[1] for p in subject.strip()[len('subject='):].split(',') if p.startswith('CN=')][0]
    now = time.time()
    stamp = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(now)) + '.%03dZ' % (int(now * 1000) % 1000)
    fields = [str(seq), stamp, 'issued', pct(source), pct(device),
              hashlib.sha256(der_of(csr, 'req')).hexdigest(), hashlib.sha256(spki_of(csr)).hexdigest(),
              serial, '-', '-', base64.b64encode(cert_der).decode(), '0' * 64]
    lines.append(' '.join(fields).encode())
    rechain(lines, seq)
    write(log, lines)
    print(seq)


def replace_cert(log, seq, cert):
    lines = read(log)
    f = lines[seq].split(b' ')
    f[10] = base64.b64encode(der_of(cert, 'x509'))
    lines[seq] = b' '.join(f)
    rechain(lines, seq)
    write(log, lines)
    for line in lines[seq + 1:]:
        f = line.split(b' ')
        if f[2] == b'checkpoint':
            print(f[0].decode())


def message(log, seq):
    lines = read(log)
    genesis = lines[0].split(b' ')[2].decode()
    prev = lines[seq - 1].rsplit(b' ', 1)[1].decode() if seq > 1 else hashlib.sha256(lines[0]).hexdigest()
    sys.stdout.write('station-journal checkpoint 1 %s %d %s\n' % (genesis, seq - 1, prev))


def resign(log, seq, sig):
    lines = read(log)
    f = lines[seq].split(b' ')
    assert f[2] == b'checkpoint'
    with open(sig, 'rb') as s:
        f[10] = base64.b64encode(s.read())
    lines[seq] = b' '.join(f)
    rechain(lines, seq)
    write(log, lines)


def seq_of(log, event, field, value):
    found = None
    for line in read(log)[1:]:
        f = line.split(b' ')
        if f[2] == event.encode() and f[int(field) - 1] == value.encode():
            found = f[0].decode()
    if found is None:
        sys.exit('no such record')
    print(found)


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'append-issued':
        append_issued(*args)
    elif cmd == 'replace-cert':
        replace_cert(args[0], int(args[1]), args[2])
    elif cmd == 'message':
        message(args[0], int(args[1]))
    elif cmd == 'resign':
        resign(args[0], int(args[1]), args[2])
    elif cmd == 'seq-of':
        seq_of(*args)
    else:
        sys.exit(__doc__)
