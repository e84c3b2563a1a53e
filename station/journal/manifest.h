/*
 * manifest.h - the manifest of a journal export: what the export covers,
 * signed by the journal key beside it.
 *
 * `station journal export ... --out FILE` writes FILE.manifest.json and
 * FILE.manifest.json.sig (DER ECDSA-SHA256 over the manifest's bytes by the
 * journal key). The manifest is one JSON object, UTF-8, pretty-printed with
 * two spaces, keys in this order:
 *
 *   format    "station-export-manifest"
 *   version   1
 *   station   {factory, local_ca_subject (RFC 2253, as `openssl x509 -subject
 *             -nameopt RFC2253` prints it), local_ca_sha256 (of the local CA
 *             certificate's DER), journal_key_sha256 (of the journal key's
 *             SubjectPublicKeyInfo DER), journal_genesis}
 *   export    {file (FILE's base name), format (csv|jsonl|pem|index), sha256
 *             (of FILE's bytes), time (UTC, YYYY-MM-DDTHH:MM:SSZ)}
 *   records   {first, last (seq of the first and last record in range, null
 *             when none matched), journal_last (the journal's last trusted
 *             record at export time), chain (the chain value of record last,
 *             null when none matched)}
 *   filters   {since, until, source: the strings as given, or null}
 *   complete  true only with no filter, first == 1 and last == journal_last
 *   counts    {event: rows of that event, for the events that occur;
 *             issued, refused, checkpoint first, then others as met}
 *
 * Every sha256, genesis and chain value is 64 lower-case hex digits.
 * docs/journal-format.md describes the same format for auditors.
 */
#ifndef STATION_MANIFEST_H
#define STATION_MANIFEST_H

#include <stdint.h>

#include "export.h"

struct st_detail;
struct xbuf;

#define MANIFEST_FORMAT "station-export-manifest"
#define MANIFEST_VERSION 1
#define MANIFEST_TEXT_MAX 1024

/* A manifest, written or read back. Strings are NUL-terminated; a filter
 * that is absent has has_* = 0. */
struct export_manifest {
  char factory[MANIFEST_TEXT_MAX];
  char ca_subject[MANIFEST_TEXT_MAX];
  char ca_sha256[65];
  char key_sha256[65];
  char genesis[65];
  char file[MANIFEST_TEXT_MAX];
  enum export_format format;
  char sha256[65];
  char time[32];
  int has_range;               /* 0: no record matched (first, last, chain are null) */
  uint64_t first, last, journal_last;
  char chain[65];
  int has_since, has_until, has_source;
  char since[MANIFEST_TEXT_MAX], until[MANIFEST_TEXT_MAX], source[MANIFEST_TEXT_MAX];
  int complete;
  struct export_counts counts;
};

/* Appends M as the manifest's JSON text to OUT (check out->failed). */
void manifest_write(const struct export_manifest *m, struct xbuf *out);

/* Reads the manifest's JSON text (LEN bytes of TEXT) into *M, checking its
 * shape: every key present with its type, format and version known, hex
 * values of 64 lower-case digits, first <= last <= journal_last. Returns 0,
 * ST_E_EXPORT_INVALID with DETAIL naming what is wrong, or ST_E_NO_MEMORY. */
int manifest_read(const char *text, size_t len, struct export_manifest *m, struct st_detail *detail);

#endif
