/*
 * export_read.c - the manifest and row readers (formats in export_read.h).
 */
#include "export_read.h"

#include <string.h>

#include "encoding.h"
#include "json.h"

static int is_hex(const char *s, size_t min, size_t max, int even)
{
  size_t n = strlen(s);
  if (n < min || n > max || (even && n % 2 != 0))
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return 1;
}

int export_is_hex64(const char *s)
{
  return s != NULL && is_hex(s, 64, 64, 0);
}

/* Copies member KEY of object OBJ (a string of at most SIZE - 1 bytes) into
 * OUT. NULLABLE: a null member leaves OUT empty and returns 0; else 1. -1 on
 * a missing member or a wrong type or length. */
static int copy_string(const struct json_doc *d, size_t obj, const char *key, char *out, size_t size,
                       int nullable)
{
  size_t i = json_get(d, obj, key);
  const struct json_token *t = json_at(d, i);
  out[0] = '\0';
  if (i == 0 || t == NULL)
    return -1;
  if (t->type == JSON_NULL && nullable)
    return 0;
  if (t->type != JSON_STRING || t->len >= size)
    return -1;
  memcpy(out, t->str, t->len + 1);
  return 1;
}

/* True when object OBJ has exactly N members (so none besides those read). */
static int members(const struct json_doc *d, size_t obj, size_t n)
{
  const struct json_token *t = json_at(d, obj);
  return t != NULL && t->type == JSON_OBJECT && t->count == n;
}

static int manifest_fail(struct st_detail *detail, const char *what)
{
  st_detail_set(detail, "the manifest's %s is missing or not what the format allows", what);
  return ST_E_EXPORT_INVALID;
}

static int manifest_counts(const struct json_doc *d, size_t obj, struct export_manifest *m)
{
  const struct json_token *t = json_at(d, obj);
  if (obj == 0 || t == NULL || t->type != JSON_OBJECT || t->count > EXPORT_EVENTS_MAX)
    return -1;
  m->nevents = 0;
  for (size_t i = obj + 1; i < t->end; i = json_at(d, i + 1)->end) {
    const struct json_token *k = json_at(d, i), *v = json_at(d, i + 1);
    if (k->len == 0 || k->len >= sizeof m->counts[0].name || v->type != JSON_NUMBER || v->num < 0)
      return -1;
    for (size_t j = 0; j < k->len; j++)
      if (!((k->str[j] >= 'a' && k->str[j] <= 'z') || k->str[j] == '-' || k->str[j] == '_'))
        return -1;
    memcpy(m->counts[m->nevents].name, k->str, k->len + 1);
    m->counts[m->nevents++].n = v->num;
  }
  return 0;
}

int export_manifest_parse(const char *text, size_t len, struct export_manifest *m, struct st_detail *detail)
{
  struct json_doc *d = NULL;
  size_t st, ex, rec, fil, c;
  const char *s;
  int64_t version = 0;
  int r, a, b, ch;

  memset(m, 0, sizeof *m);
  if (len > EXPORT_MANIFEST_MAX) {
    st_detail_set(detail, "the manifest is larger than %d bytes", EXPORT_MANIFEST_MAX);
    return ST_E_EXPORT_INVALID;
  }
  if ((r = json_parse(text, len, &d, detail)) != 0)
    return r;
  r = ST_E_EXPORT_INVALID;
  if (!members(d, 0, 8) || (s = json_get_string(d, 0, "format")) == NULL || strcmp(s, "station-export-manifest") != 0) {
    r = manifest_fail(detail, "format (station-export-manifest, eight members)");
    goto out;
  }
  if (json_get_int(d, 0, "version", &version) != 1 || version != 1) {
    r = manifest_fail(detail, "version (1)");
    goto out;
  }
  st = json_get(d, 0, "station");
  if (!members(d, st, 5) || copy_string(d, st, "factory", m->factory, sizeof m->factory, 0) != 1 ||
      copy_string(d, st, "local_ca_subject", m->local_ca_subject, sizeof m->local_ca_subject, 0) != 1 ||
      copy_string(d, st, "local_ca_sha256", m->local_ca_sha256, sizeof m->local_ca_sha256, 0) != 1 ||
      copy_string(d, st, "journal_key_sha256", m->journal_key_sha256, sizeof m->journal_key_sha256, 0) != 1 ||
      copy_string(d, st, "journal_genesis", m->journal_genesis, sizeof m->journal_genesis, 0) != 1 ||
      !export_is_hex64(m->local_ca_sha256) || !export_is_hex64(m->journal_key_sha256) ||
      !export_is_hex64(m->journal_genesis)) {
    r = manifest_fail(detail, "station");
    goto out;
  }
  ex = json_get(d, 0, "export");
  if (!members(d, ex, 4) || copy_string(d, ex, "file", m->file, sizeof m->file, 0) != 1 ||
      copy_string(d, ex, "format", m->format, sizeof m->format, 0) != 1 ||
      copy_string(d, ex, "sha256", m->sha256, sizeof m->sha256, 0) != 1 ||
      copy_string(d, ex, "time", m->time, sizeof m->time, 0) != 1 || !export_is_hex64(m->sha256) ||
      (strcmp(m->format, "csv") != 0 && strcmp(m->format, "jsonl") != 0 && strcmp(m->format, "pem") != 0 &&
       strcmp(m->format, "index") != 0) || strlen(m->time) < 20) {
    r = manifest_fail(detail, "export");
    goto out;
  }
  rec = json_get(d, 0, "records");
  a = json_get_int(d, rec, "first", &m->first);
  b = json_get_int(d, rec, "last", &m->last);
  ch = copy_string(d, rec, "chain", m->chain, sizeof m->chain, 1);
  if (!members(d, rec, 4) || json_get_int(d, rec, "journal_last", &m->journal_last) != 1 || m->journal_last < 0 ||
      a < 0 || a != b || a != ch || (a == 1 && (m->first < 1 || m->last < m->first ||
      m->last > m->journal_last || !export_is_hex64(m->chain)))) {
    r = manifest_fail(detail, "records (first <= last <= journal_last, chain; or first, last and chain null)");
    goto out;
  }
  m->has_records = a == 1;
  fil = json_get(d, 0, "filters");
  if (!members(d, fil, 3) || (m->has_since = copy_string(d, fil, "since", m->since, sizeof m->since, 1)) < 0 ||
      (m->has_until = copy_string(d, fil, "until", m->until, sizeof m->until, 1)) < 0 ||
      (m->has_source = copy_string(d, fil, "source", m->source, sizeof m->source, 1)) < 0) {
    r = manifest_fail(detail, "filters");
    goto out;
  }
  c = json_get(d, 0, "complete");
  if (c == 0 || (json_at(d, c)->type != JSON_TRUE && json_at(d, c)->type != JSON_FALSE)) {
    r = manifest_fail(detail, "complete");
    goto out;
  }
  m->complete = json_at(d, c)->type == JSON_TRUE;
  if (m->complete && !(export_manifest_unfiltered(m) && m->has_records && m->first == 1 && m->last == m->journal_last)) {
    st_detail_set(detail, "the manifest says complete, which its records or filters contradict");
    goto out;
  }
  if (manifest_counts(d, json_get(d, 0, "counts"), m) != 0) {
    r = manifest_fail(detail, "counts");
    goto out;
  }
  r = 0;
out:
  json_free(d);
  return r;
}

int64_t export_manifest_count(const struct export_manifest *m, const char *event)
{
  for (size_t i = 0; i < m->nevents; i++)
    if (strcmp(m->counts[i].name, event) == 0)
      return m->counts[i].n;
  return 0;
}

int export_manifest_unfiltered(const struct export_manifest *m)
{
  return !m->has_since && !m->has_until && !m->has_source;
}

/* The string member KEY of the row object, or NULL. */
static const char *row_string(const struct json_doc *d, const char *key)
{
  return json_get_string(d, 0, key);
}

int export_row_parse(const char *line, size_t len, struct export_row *row, struct json_doc **doc,
                     struct st_detail *detail)
{
  struct json_doc *d = NULL;
  const char *bad = NULL;
  int64_t ms;
  int r;
  memset(row, 0, sizeof *row);
  *doc = NULL;
  if (len > EXPORT_ROW_MAX) {
    st_detail_set(detail, "a line longer than %u bytes", EXPORT_ROW_MAX);
    return ST_E_EXPORT_INVALID;
  }
  if ((r = json_parse(line, len, &d, detail)) != 0)
    return r;
  row->time = row_string(d, "time");
  row->event = row_string(d, "event");
  row->source = row_string(d, "source");
  row->device = row_string(d, "device");
  row->serial = row_string(d, "serial");
  row->reason = row_string(d, "reason");
  row->csr_sha256 = row_string(d, "csr_sha256");
  row->key_sha256 = row_string(d, "key_sha256");
  row->detail = row_string(d, "detail");
  row->chain = row_string(d, "chain");
  row->certificate = row_string(d, "certificate");
  if (!members(d, 0, 12))
    bad = "the member list (seq, time, event, source, device, serial, reason, csr_sha256, key_sha256, detail, "
          "chain, certificate)";
  else if (json_get_int(d, 0, "seq", &row->seq) != 1 || row->seq < 1)
    bad = "seq";
  else if (row->time == NULL || !st_time_parse(&ms, row->time, strlen(row->time)))
    bad = "time";
  else if (row->event == NULL || row->event[0] == '\0' || strspn(row->event, "abcdefghijklmnopqrstuvwxyz-") != strlen(row->event))
    bad = "event";
  else if (row->source == NULL || row->device == NULL || row->reason == NULL || row->detail == NULL)
    bad = "source, device, reason or detail";
  else if (row->serial == NULL || !is_hex(row->serial, 0, 40, 1))
    bad = "serial";
  else if (row->csr_sha256 == NULL || (row->csr_sha256[0] != '\0' && !export_is_hex64(row->csr_sha256)))
    bad = "csr_sha256";
  else if (row->key_sha256 == NULL || (row->key_sha256[0] != '\0' && !export_is_hex64(row->key_sha256)))
    bad = "key_sha256";
  else if (!export_is_hex64(row->chain))
    bad = "chain";
  else if (row->certificate == NULL ||
           (row->certificate[0] != '\0' && strncmp(row->certificate, "-----BEGIN CERTIFICATE-----\n", 28) != 0))
    bad = "certificate";
  if (bad != NULL) {
    st_detail_set(detail, "the row's %s is missing or not what the format allows", bad);
    json_free(d);
    memset(row, 0, sizeof *row);
    return ST_E_EXPORT_INVALID;
  }
  *doc = d;
  return 0;
}
