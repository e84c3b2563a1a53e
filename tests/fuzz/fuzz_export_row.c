/* fuzz_export_row.c - libFuzzer target: the audit database's row reader
 * (export_row_parse, station/audit_db/), on each line of the input as
 * `station audit import` hands it the lines of a JSON Lines export. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "export_row.h"
#include "json_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  const char *p = (const char *)data, *end = p + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
    struct export_row row;
    struct json_doc *doc = NULL;
    struct st_detail why;
    if (export_row_parse(p, n, &row, &doc, &why) == 0 && row.chain[64] != '\0')
      __builtin_trap(); /* a row that reads has a 64-digit chain */
    json_doc_free(doc);
    p += n + (nl != NULL);
  }
  return 0;
}
