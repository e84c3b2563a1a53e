/* fuzz_config.c - libFuzzer target: the YAML configuration loader on any text. */
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  struct station_config *c = NULL;
  struct st_detail why;
  config_load_buffer("/fuzz/station.yaml", (const char *)data, len, &c, &why);
  config_free(c);
  return 0;
}
