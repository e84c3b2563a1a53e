/*
 * manifest.c - writing and reading back the manifest of an export (format in
 * manifest.h and docs/journal-format.md).
 */
#include "manifest.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "json_read.h"
#include "xbuf.h"

/* A JSON string, or null when PRESENT is 0. */
static void manifest_str_or_null(struct xbuf *b, int present, const char *s)
{
  if (present)
    xb_json(b, s);
  else
    xb_str(b, "null");
}

void manifest_write(const struct export_manifest *m, struct xbuf *b)
{
  xb_str(b, "{\n  \"format\": \"" MANIFEST_FORMAT "\",\n");
  xb_printf(b, "  \"version\": %d,\n", MANIFEST_VERSION);
  xb_str(b, "  \"station\": {\n    \"factory\": ");
  xb_json(b, m->factory);
  xb_str(b, ",\n    \"local_ca_subject\": ");
  xb_json(b, m->ca_subject);
  xb_printf(b, ",\n    \"local_ca_sha256\": \"%s\",\n    \"journal_key_sha256\": \"%s\",\n"
               "    \"journal_genesis\": \"%s\"\n  },\n", m->ca_sha256, m->key_sha256, m->genesis);
  xb_str(b, "  \"export\": {\n    \"file\": ");
  xb_json(b, m->file);
  xb_printf(b, ",\n    \"format\": \"%s\",\n    \"sha256\": \"%s\",\n    \"time\": \"%s\"\n  },\n",
            export_format_name(m->format), m->sha256, m->time);
  if (m->has_range)
    xb_printf(b, "  \"records\": {\n    \"first\": %" PRIu64 ",\n    \"last\": %" PRIu64 ",\n", m->first, m->last);
  else
    xb_str(b, "  \"records\": {\n    \"first\": null,\n    \"last\": null,\n");
  xb_printf(b, "    \"journal_last\": %" PRIu64 ",\n    \"chain\": ", m->journal_last);
  manifest_str_or_null(b, m->has_range, m->chain);
  xb_str(b, "\n  },\n  \"filters\": {\n    \"since\": ");
  manifest_str_or_null(b, m->has_since, m->since);
  xb_str(b, ",\n    \"until\": ");
  manifest_str_or_null(b, m->has_until, m->until);
  xb_str(b, ",\n    \"source\": ");
  manifest_str_or_null(b, m->has_source, m->source);
  xb_printf(b, "\n  },\n  \"complete\": %s,\n  \"counts\": {", m->complete ? "true" : "false");
  for (size_t i = 0; i < m->counts.events; i++)
    xb_printf(b, "%s\n    \"%s\": %" PRIu64, i > 0 ? "," : "", m->counts.event[i].name, m->counts.event[i].rows);
  xb_str(b, m->counts.events > 0 ? "\n  }\n}\n" : "}\n}\n");
}

/* ---- reading ---- */

struct manifest_reader {
  int bad;
  struct st_detail *detail;
};

static const struct json_node *manifest_need(struct manifest_reader *rd, const struct json_node *obj,
                                             const char *where, const char *key, enum json_type type)
{
  const struct json_node *n = json_get(obj, key);
  if (n == NULL || n->type != type) {
    if (!rd->bad)
      st_detail_set(rd->detail, "the manifest's %s%s%s is missing or of the wrong type", where,
                    *where != '\0' ? "." : "", key);
    rd->bad = 1;
    return NULL;
  }
  return n;
}

/* A string member KEY of OBJ into OUT (CAP bytes); null allowed when
 * PRESENT is not NULL (then *PRESENT says which). */
static void manifest_text(struct manifest_reader *rd, const struct json_node *obj, const char *where,
                          const char *key, char *out, size_t cap, int *present)
{
  const struct json_node *n = json_get(obj, key);
  if (present != NULL && n != NULL && n->type == JSON_NULL) {
    *present = 0;
    return;
  }
  if ((n = manifest_need(rd, obj, where, key, JSON_STRING)) == NULL)
    return;
  if (strlen(n->text) >= cap) {
    if (!rd->bad)
      st_detail_set(rd->detail, "the manifest's %s.%s is too long", where, key);
    rd->bad = 1;
    return;
  }
  memcpy(out, n->text, strlen(n->text) + 1);
  if (present != NULL)
    *present = 1;
}

/* A member holding 64 lower-case hex digits (null allowed when PRESENT). */
static void manifest_hex(struct manifest_reader *rd, const struct json_node *obj, const char *where,
                         const char *key, char out[65], int *present)
{
  int ok = 1;
  manifest_text(rd, obj, where, key, out, 65, present);
  if (rd->bad || (present != NULL && !*present))
    return;
  for (size_t i = 0; i < 64; i++)
    ok = ok && ((out[i] >= '0' && out[i] <= '9') || (out[i] >= 'a' && out[i] <= 'f'));
  if (!ok || strlen(out) != 64) {
    st_detail_set(rd->detail, "the manifest's %s.%s is not 64 lower-case hex digits", where, key);
    rd->bad = 1;
  }
}

static void manifest_u64(struct manifest_reader *rd, const struct json_node *obj, const char *where,
                         const char *key, uint64_t *v, int *present)
{
  const struct json_node *n = json_get(obj, key);
  if (present != NULL && n != NULL && n->type == JSON_NULL) {
    *present = 0;
    return;
  }
  if ((n = manifest_need(rd, obj, where, key, JSON_NUMBER)) == NULL)
    return;
  if (!json_u64(n, v)) {
    st_detail_set(rd->detail, "the manifest's %s.%s is not a record number", where, key);
    rd->bad = 1;
  }
  if (present != NULL)
    *present = 1;
}

static void manifest_read_counts(struct manifest_reader *rd, const struct json_node *obj, struct export_counts *c)
{
  for (const struct json_node *n = obj != NULL ? obj->child : NULL; n != NULL && !rd->bad; n = n->next) {
    uint64_t v = 0;
    int ok = json_u64(n, &v) && v > 0 && export_count_of(c, n->key) == 0;
    for (const char *p = n->key; ok && *p != '\0'; p++)
      ok = (*p >= 'a' && *p <= 'z') || *p == '-' || *p == '_';
    if (!ok || export_count_add(c, n->key, v) != 0) {
      st_detail_set(rd->detail, "the manifest's counts.%.40s is not an event with a row count", n->key);
      rd->bad = 1;
    }
  }
}

int manifest_read(const char *text, size_t len, struct export_manifest *m, struct st_detail *detail)
{
  struct json_doc *doc = NULL;
  struct manifest_reader rd = {0, detail};
  const struct json_node *root, *station, *exp, *records, *filters, *counts, *n;
  char format[16] = "";
  uint64_t version = 0;
  int r, present_first = 0, present_last = 0, present_chain = 0;

  memset(m, 0, sizeof *m);
  r = json_parse(text, len, &doc, detail);
  if (r != 0)
    goto out;
  root = json_root(doc);
  n = manifest_need(&rd, root, "", "format", JSON_STRING);
  if (n != NULL && strcmp(n->text, MANIFEST_FORMAT) != 0) {
    st_detail_set(detail, "the manifest's format is not \"" MANIFEST_FORMAT "\"");
    rd.bad = 1;
  }
  manifest_u64(&rd, root, "", "version", &version, NULL);
  if (!rd.bad && version != MANIFEST_VERSION) {
    st_detail_set(detail, "the manifest is version %" PRIu64 "; this station reads version %d", version,
                  MANIFEST_VERSION);
    rd.bad = 1;
  }
  station = manifest_need(&rd, root, "", "station", JSON_OBJECT);
  exp = manifest_need(&rd, root, "", "export", JSON_OBJECT);
  records = manifest_need(&rd, root, "", "records", JSON_OBJECT);
  filters = manifest_need(&rd, root, "", "filters", JSON_OBJECT);
  n = json_get(root, "complete");
  if (!rd.bad && (n == NULL || (n->type != JSON_TRUE && n->type != JSON_FALSE))) {
    st_detail_set(detail, "the manifest's complete is missing or not true or false");
    rd.bad = 1;
  }
  m->complete = n != NULL && n->type == JSON_TRUE;
  counts = manifest_need(&rd, root, "", "counts", JSON_OBJECT);
  if (rd.bad)
    goto done;
  manifest_text(&rd, station, "station", "factory", m->factory, sizeof m->factory, NULL);
  manifest_text(&rd, station, "station", "local_ca_subject", m->ca_subject, sizeof m->ca_subject, NULL);
  manifest_hex(&rd, station, "station", "local_ca_sha256", m->ca_sha256, NULL);
  manifest_hex(&rd, station, "station", "journal_key_sha256", m->key_sha256, NULL);
  manifest_hex(&rd, station, "station", "journal_genesis", m->genesis, NULL);
  manifest_text(&rd, exp, "export", "file", m->file, sizeof m->file, NULL);
  manifest_text(&rd, exp, "export", "format", format, sizeof format, NULL);
  if (!rd.bad && export_parse_format(format, &m->format) != 0) {
    st_detail_set(detail, "the manifest's export.format \"%s\" is not csv, jsonl, pem or index", format);
    rd.bad = 1;
  }
  manifest_hex(&rd, exp, "export", "sha256", m->sha256, NULL);
  manifest_text(&rd, exp, "export", "time", m->time, sizeof m->time, NULL);
  manifest_u64(&rd, records, "records", "first", &m->first, &present_first);
  manifest_u64(&rd, records, "records", "last", &m->last, &present_last);
  manifest_u64(&rd, records, "records", "journal_last", &m->journal_last, NULL);
  manifest_hex(&rd, records, "records", "chain", m->chain, &present_chain);
  manifest_text(&rd, filters, "filters", "since", m->since, sizeof m->since, &m->has_since);
  manifest_text(&rd, filters, "filters", "until", m->until, sizeof m->until, &m->has_until);
  manifest_text(&rd, filters, "filters", "source", m->source, sizeof m->source, &m->has_source);
  manifest_read_counts(&rd, counts, &m->counts);
  if (rd.bad)
    goto done;
  m->has_range = present_first;
  if (present_first != present_last || present_first != present_chain ||
      (m->has_range && (m->first == 0 || m->first > m->last || m->last > m->journal_last))) {
    st_detail_set(detail, "the manifest's records (first, last, journal_last, chain) do not make a range");
    rd.bad = 1;
  } else if (m->complete && (m->has_since || m->has_until || m->has_source || !m->has_range || m->first != 1 ||
                             m->last != m->journal_last)) {
    st_detail_set(detail, "the manifest says complete, but its filters or records say otherwise");
    rd.bad = 1;
  }
done:
  r = rd.bad ? ST_E_EXPORT_INVALID : 0;
out:
  json_doc_free(doc);
  return r;
}
