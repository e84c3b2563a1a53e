/*
 * export_row.c - one row of a JSON Lines export (format in export_row.h).
 */
#include "export_row.h"

#include <string.h>

#include "encoding.h"
#include "json_read.h"

#define EXPORT_ROW_MEMBERS 12

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

/* Member KEY of OBJ as a string, or NULL. */
static const char *row_string(const struct json_node *obj, const char *key)
{
  const struct json_node *n = json_get(obj, key);
  return n != NULL && n->type == JSON_STRING ? n->text : NULL;
}

int export_row_parse(const char *line, size_t len, struct export_row *row, struct json_doc **doc,
                     struct st_detail *detail)
{
  struct json_doc *d = NULL;
  const struct json_node *root, *n;
  const char *bad = NULL;
  size_t members = 0;
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
  root = json_root(d);
  for (n = root != NULL && root->type == JSON_OBJECT ? root->child : NULL; n != NULL; n = n->next)
    members++;
  row->time = row_string(root, "time");
  row->event = row_string(root, "event");
  row->source = row_string(root, "source");
  row->device = row_string(root, "device");
  row->serial = row_string(root, "serial");
  row->reason = row_string(root, "reason");
  row->csr_sha256 = row_string(root, "csr_sha256");
  row->key_sha256 = row_string(root, "key_sha256");
  row->detail = row_string(root, "detail");
  row->chain = row_string(root, "chain");
  row->certificate = row_string(root, "certificate");
  if (members != EXPORT_ROW_MEMBERS)
    bad = "member list (seq, time, event, source, device, serial, reason, csr_sha256, key_sha256, detail, "
          "chain, certificate)";
  else if (!json_u64(json_get(root, "seq"), &row->seq) || row->seq < 1)
    bad = "seq";
  else if (row->time == NULL || !st_time_parse(&ms, row->time, strlen(row->time)))
    bad = "time";
  else if (row->event == NULL || row->event[0] == '\0' ||
           strspn(row->event, "abcdefghijklmnopqrstuvwxyz-") != strlen(row->event))
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
    json_doc_free(d);
    memset(row, 0, sizeof *row);
    return ST_E_EXPORT_INVALID;
  }
  *doc = d;
  return 0;
}
