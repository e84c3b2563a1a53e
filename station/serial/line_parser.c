/*
 * line_parser.c - framing of CSR blocks on a board's UART (see line_parser.h).
 *
 * The protocol, board -> station
 * -------------------------------
 * The byte stream is cut into lines: CR, LF and CRLF each end a line (a CRLF
 * gives a line and an empty one; empty lines mean nothing). NUL bytes are
 * dropped wherever they appear: a UART that powers up often sends some.
 *
 * Outside a block the parser hunts. Every line is noise (boot logs, binary
 * junk, a shell prompt) except a line that ENDS with one of the two BEGIN
 * markers, blanks after it allowed:
 *     -----BEGIN CERTIFICATE REQUEST-----
 *     -----BEGIN NEW CERTIFICATE REQUEST-----
 * Junk in front of the marker on the same line (a log line that lacked its
 * newline) does not hide it. Noise is kept only as the tail of the current
 * line (PARSER_NOISE_MAX bytes), enough to see a marker at its end, so junk
 * without newlines cannot grow memory.
 *
 * Inside a block every line is trimmed of blanks (space, tab) at both ends
 * and kept with an LF line end; empty lines are skipped. The block ends at the
 * line "-----END <same label>-----", and the text from the BEGIN marker to the
 * END line inclusive goes out as one CSR message. The parser does not judge
 * the body: a block whose body is not base64 reaches csr_parse and is refused
 * there (not-a-csr), like any other bad CSR.
 *
 * Three things end a block early, and the parser then hunts again, so the
 * board's next CSR is read whole:
 *   - the normalised block would pass the cap (16 KiB): a TOO_LARGE message;
 *     the rest of that block is noise (its END line included);
 *   - no byte arrived for the idle timeout: a TIMEOUT message (checked on
 *     every feed and on every tick);
 *   - a new BEGIN line: the board restarted and printed a fresh CSR; the
 *     unfinished block is dropped without a message (nobody waits for it).
 */
#include "line_parser.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The tail of a noise line that is kept, and how much survives a shift. */
#define PARSER_NOISE_MAX 128
#define PARSER_NOISE_KEEP 64

static const char *const parser_labels[] = {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"};
#define PARSER_LABEL_COUNT (sizeof parser_labels / sizeof parser_labels[0])

struct line_parser {
  size_t block_max;
  uint32_t timeout_ms;
  int in_block;
  size_t label;                  /* index in parser_labels of the block in progress */
  char *block;                   /* block_max + 2 bytes: the lines kept so far, then the current line */
  size_t block_len;              /* bytes of whole lines kept */
  size_t line_len;               /* bytes of the current line, at block + block_len */
  char noise[PARSER_NOISE_MAX];  /* outside a block: the tail of the current line */
  size_t noise_len;
  int64_t last_byte_ms;          /* when the block last received a byte */
};

struct line_parser *line_parser_new(size_t block_max, uint32_t timeout_ms)
{
  struct line_parser *p = calloc(1, sizeof *p);
  if (p == NULL)
    return p;
  p->block_max = block_max != 0 ? block_max : LINE_PARSER_BLOCK_MAX;
  p->timeout_ms = timeout_ms != 0 ? timeout_ms : LINE_PARSER_TIMEOUT_MS;
  p->block = malloc(p->block_max + 2);
  if (p->block == NULL) {
    free(p);
    p = NULL;
  }
  return p;
}

void line_parser_free(struct line_parser *p)
{
  if (p == NULL)
    return;
  free(p->block);
  free(p);
}

void line_parser_reset(struct line_parser *p)
{
  p->in_block = 0;
  p->block_len = 0;
  p->line_len = 0;
  p->noise_len = 0;
}

int line_parser_in_block(const struct line_parser *p)
{
  return p->in_block;
}

int64_t line_parser_deadline(const struct line_parser *p)
{
  return p->in_block ? p->last_byte_ms + (int64_t)p->timeout_ms : -1;
}

static void parser_emit_refusal(struct line_parser *p, enum line_message_kind kind, line_parser_emit_fn emit,
                                void *arg)
{
  struct line_message m = {kind, NULL, 0};
  line_parser_reset(p);
  emit(arg, &m);
}

void line_parser_tick(struct line_parser *p, int64_t now_ms, line_parser_emit_fn emit, void *arg)
{
  if (p->in_block && now_ms >= line_parser_deadline(p))
    parser_emit_refusal(p, LINE_MESSAGE_TIMEOUT, emit, arg);
}

static int parser_is_blank(char c)
{
  return c == ' ' || c == '\t';
}

/* Length of LINE (LEN bytes) without its trailing blanks. */
static size_t parser_trim_end(const char *line, size_t len)
{
  while (len > 0 && parser_is_blank(line[len - 1]))
    len--;
  return len;
}

/* 1 when LINE (LEN bytes, trailing blanks already trimmed) ends with
 * "-----<WORD> <label>-----" for some label; *LABEL gets which. */
static int parser_ends_with_marker(const char *line, size_t len, const char *word, size_t *label)
{
  char marker[64];
  int found = 0;
  for (size_t i = 0; i < PARSER_LABEL_COUNT && !found; i++) {
    size_t n = (size_t)snprintf(marker, sizeof marker, "-----%s %s-----", word, parser_labels[i]);
    if (len >= n && memcmp(line + len - n, marker, n) == 0) {
      found = 1;
      *label = i;
    }
  }
  return found;
}

/* Starts a block whose BEGIN line has LABEL. */
static void parser_begin_block(struct line_parser *p, size_t label, int64_t now_ms)
{
  line_parser_reset(p);
  p->in_block = 1;
  p->label = label;
  p->block_len = (size_t)snprintf(p->block, p->block_max + 2, "-----BEGIN %s-----\n", parser_labels[label]);
  p->last_byte_ms = now_ms;
}

/* A noise line ended: does it open a block? */
static void parser_end_noise_line(struct line_parser *p, int64_t now_ms)
{
  size_t label, len = parser_trim_end(p->noise, p->noise_len);
  if (parser_ends_with_marker(p->noise, len, "BEGIN", &label))
    parser_begin_block(p, label, now_ms);
  p->noise_len = 0;
}

/* A line of a block ended: keep it, finish the block, or restart it. */
static void parser_end_block_line(struct line_parser *p, int64_t now_ms, line_parser_emit_fn emit, void *arg)
{
  char *line = p->block + p->block_len;
  size_t start = 0, len = parser_trim_end(line, p->line_len), label;
  while (start < len && parser_is_blank(line[start]))
    start++;
  len -= start;
  memmove(line, line + start, len);
  p->line_len = 0;
  if (len == 0)
    return;
  if (parser_ends_with_marker(line, len, "BEGIN", &label)) {
    parser_begin_block(p, label, now_ms);
    return;
  }
  line[len] = '\n';
  p->block_len += len + 1;
  if (parser_ends_with_marker(line, len, "END", &label) && label == p->label &&
      len == strlen(parser_labels[label]) + 14) {
    struct line_message m = {LINE_MESSAGE_CSR, p->block, p->block_len};
    p->block[p->block_len] = '\0';
    emit(arg, &m);
    line_parser_reset(p);
  }
}

/* Takes one byte (not NUL) inside a block. */
static void parser_block_byte(struct line_parser *p, char c, int64_t now_ms, line_parser_emit_fn emit, void *arg)
{
  if (c == '\r' || c == '\n') {
    parser_end_block_line(p, now_ms, emit, arg);
  } else if (p->block_len + p->line_len + 1 >= p->block_max) {
    /* the line, with its LF, would not fit */
    parser_emit_refusal(p, LINE_MESSAGE_TOO_LARGE, emit, arg);
  } else {
    p->block[p->block_len + p->line_len++] = c;
  }
}

/* Takes one byte (not NUL) outside a block. */
static void parser_noise_byte(struct line_parser *p, char c, int64_t now_ms)
{
  if (c == '\r' || c == '\n') {
    parser_end_noise_line(p, now_ms);
    return;
  }
  if (p->noise_len == PARSER_NOISE_MAX) {
    memmove(p->noise, p->noise + PARSER_NOISE_MAX - PARSER_NOISE_KEEP, PARSER_NOISE_KEEP);
    p->noise_len = PARSER_NOISE_KEEP;
  }
  p->noise[p->noise_len++] = c;
}

void line_parser_feed(struct line_parser *p, const uint8_t *data, size_t len, int64_t now_ms,
                      line_parser_emit_fn emit, void *arg)
{
  line_parser_tick(p, now_ms, emit, arg);
  for (size_t i = 0; i < len; i++) {
    char c = (char)data[i];
    if (c == '\0')
      continue;
    if (p->in_block)
      parser_block_byte(p, c, now_ms, emit, arg);
    else
      parser_noise_byte(p, c, now_ms);
  }
  if (p->in_block && len > 0)
    p->last_byte_ms = now_ms;
}
