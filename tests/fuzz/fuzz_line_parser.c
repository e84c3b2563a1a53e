/* fuzz_line_parser.c - libFuzzer target: the serial line parser on any byte
 * stream, cut into reads of the sizes the first bytes choose, with time
 * moving on so that timeouts fire too. Checks the parser's own promises. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "line_parser.h"

static void fuzz_check_message(void *arg, const struct line_message *m)
{
  (void)arg;
  if (m->kind == LINE_MESSAGE_CSR) {
    /* a block is PEM text under the cap, from a BEGIN line to an END line */
    if (m->text == NULL || m->len == 0 || m->len > LINE_PARSER_BLOCK_MAX || strlen(m->text) != m->len ||
        strncmp(m->text, "-----BEGIN ", 11) != 0)
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  struct line_parser *p = line_parser_new(2048, 100);
  int64_t now = 0;
  size_t pos = 2;
  unsigned step = len > 0 ? (unsigned)data[0] % 64 + 1 : 1;
  unsigned pause = len > 1 ? data[1] : 0;
  if (p == NULL)
    return 0;
  while (pos < len) {
    size_t n = len - pos < step ? len - pos : step;
    line_parser_feed(p, data + pos, n, now, fuzz_check_message, NULL);
    pos += n;
    now += pause;
    line_parser_tick(p, now, fuzz_check_message, NULL);
  }
  line_parser_free(p);
  return 0;
}
