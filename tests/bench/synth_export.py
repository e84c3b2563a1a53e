#!/usr/bin/env python3
"""synth_export.py - a signed JSON Lines export with its manifest, written the
way `station journal export --format jsonl` writes one (docs/journal-format.md),
for one synthetic station: records FIRST..LAST of a journal of JOURNAL_LAST
records, every record issued (a checkpoint every 256), each with a fresh
device UUID, serial and key hash, and CERT (a PEM file) as its certificate
text. The files are signed with KEY (a P-256 private key, PEM) by openssl.
Used by tests/bench/audit-bench.sh to make a million records in seconds;
the end-to-end test uses exports of real stations.

usage: synth_export.py KEY CERT OUT FIRST LAST JOURNAL_LAST GENESIS CA_SUBJECT CA_SHA256 [SEED]
"""
import hashlib
import json
import random
import subprocess
import sys
import uuid


def chain_of(genesis, seq):
    return hashlib.sha256(("%s:%d" % (genesis, seq)).encode()).hexdigest()


def main():
    key, cert, out, first, last, jlast, genesis, ca_subject, ca_sha = sys.argv[1:10]
    seed = int(sys.argv[10]) if len(sys.argv) > 10 else 1
    first, last, jlast = int(first), int(last), int(jlast)
    rng = random.Random(seed)
    pem = open(cert).read()
    counts = {}
    lines = []
    for seq in range(first, last + 1):
        t = "2026-12-%02dT%02d:%02d:%02d.%03dZ" % (1 + seq // 864000 % 28, seq // 36000 % 24, seq // 600 % 60,
                                                   seq // 10 % 60, seq % 10 * 100)
        event = "checkpoint" if seq % 256 == 0 else "issued"
        counts[event] = counts.get(event, 0) + 1
        rnd = random.Random("%s:%d" % (genesis, seq))
        row = {"seq": seq, "time": t, "event": event, "source": "", "device": "", "serial": "", "reason": "",
               "csr_sha256": "", "key_sha256": "", "detail": "", "chain": chain_of(genesis, seq),
               "certificate": ""}
        if event == "issued":
            row.update(source="batch:/media/station/csr/%06d.csr" % seq,
                       device=str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
                       serial="%032x" % (rnd.getrandbits(127) | (1 << 120)),
                       csr_sha256="%064x" % rnd.getrandbits(256), key_sha256="%064x" % rnd.getrandbits(256),
                       certificate=pem)
        lines.append(json.dumps(row, separators=(",", ":")) + "\n")
    data = "".join(lines).encode()
    open(out, "wb").write(data)
    spki = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"], check=True,
                          capture_output=True).stdout
    manifest = {
        "format": "station-export-manifest", "version": 1,
        "station": {"factory": "acme-factory", "local_ca_subject": ca_subject, "local_ca_sha256": ca_sha,
                    "journal_key_sha256": hashlib.sha256(spki).hexdigest(), "journal_genesis": genesis},
        "export": {"file": out.rsplit("/", 1)[-1], "format": "jsonl", "sha256": hashlib.sha256(data).hexdigest(),
                   "time": "2026-12-02T17:00:00Z"},
        "records": {"first": first, "last": last, "journal_last": jlast, "chain": chain_of(genesis, last)},
        "filters": {"since": None, "until": None, "source": None},
        "complete": first == 1 and last == jlast,
        "counts": counts,
    }
    open(out + ".manifest.json", "w").write(json.dumps(manifest, indent=2) + "\n")
    for f in (out, out + ".manifest.json"):
        subprocess.run(["openssl", "dgst", "-sha256", "-sign", key, "-out", f + ".sig", f], check=True)
    del rng


if __name__ == "__main__":
    main()
