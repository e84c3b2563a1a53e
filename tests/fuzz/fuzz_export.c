/* fuzz_export.c - libFuzzer target: reading exports back. The bytes are an
 * export manifest (manifest_read, through the JSON reader) and an export
 * file (export_scan: CSV, JSON Lines, PEM or index rows), both taken from
 * the same input. */
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "export.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  static struct export_manifest m;
  struct export_scan scan;
  struct st_detail why;
  manifest_read((const char *)data, len, &m, &why);
  export_scan((const char *)data, len, &scan, &why);
  return 0;
}
