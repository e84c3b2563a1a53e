/*
 * line_parser.h - the board -> station half of the serial line protocol, as a
 * parser that does no I/O: bytes go in, messages come out.
 *
 * The protocol (docs/line-protocol.md; the full prose is at the
 * top of line_parser.c): a board prints a CSR in PEM on its UART, from a line
 * "-----BEGIN CERTIFICATE REQUEST-----" to "-----END CERTIFICATE REQUEST-----".
 * Everything outside such a block is noise and is ignored. CR, LF and CRLF all
 * end a line; NUL bytes are dropped wherever they appear. A block larger than
 * the block cap is refused (too-large); a block that stops arriving before its
 * END line is refused when the idle timeout passes (timeout). After either, the
 * parser hunts for the next BEGIN line, so the board can simply send again.
 *
 * Memory is fixed when the parser is made: one block buffer of the cap and a
 * small line buffer for the noise between blocks. Nothing from the wire can
 * make it grow.
 */
#ifndef STATION_SERIAL_LINE_PARSER_H
#define STATION_SERIAL_LINE_PARSER_H

#include <stddef.h>
#include <stdint.h>

struct line_parser;

/* The cap of a block from BEGIN to END line inclusive, as normalised (LF line
 * ends, no NULs, no blank lines, surrounding blanks trimmed): 16 KiB
 * (docs/line-protocol.md). */
#define LINE_PARSER_BLOCK_MAX (16 * 1024)

/* The idle timeout used when none is given: a block in which no byte arrived
 * for this long is refused. */
#define LINE_PARSER_TIMEOUT_MS 5000

enum line_message_kind {
  LINE_MESSAGE_CSR,        /* a complete block: TEXT/LEN is the PEM, LF line ends */
  LINE_MESSAGE_TOO_LARGE,  /* a block passed the cap: refuse it (TEXT is NULL) */
  LINE_MESSAGE_TIMEOUT,    /* a block stopped arriving: refuse it (TEXT is NULL) */
};

struct line_message {
  enum line_message_kind kind;
  const char *text;        /* borrowed, valid only during the emit call; NUL-terminated */
  size_t len;
};

/* Receives each message, in order, during line_parser_feed or line_parser_tick. */
typedef void (*line_parser_emit_fn)(void *arg, const struct line_message *message);

/* Makes a parser with BLOCK_MAX (0: LINE_PARSER_BLOCK_MAX) and an idle
 * TIMEOUT_MS (0: LINE_PARSER_TIMEOUT_MS). Returns the parser (free with
 * line_parser_free), or NULL when out of memory. */
struct line_parser *line_parser_new(size_t block_max, uint32_t timeout_ms);

/* Frees P; NULL is fine. */
void line_parser_free(struct line_parser *p);

/* Takes LEN bytes of DATA that arrived at NOW_MS (any monotonic clock in
 * milliseconds) and calls EMIT for every message they complete. A block that
 * had already timed out by NOW_MS is refused before the bytes are read. Never
 * fails, never blocks. */
void line_parser_feed(struct line_parser *p, const uint8_t *data, size_t len, int64_t now_ms,
                      line_parser_emit_fn emit, void *arg);

/* Refuses the block in progress (LINE_MESSAGE_TIMEOUT) when NOW_MS is at or
 * past its deadline. Call it when poll() times out. */
void line_parser_tick(struct line_parser *p, int64_t now_ms, line_parser_emit_fn emit, void *arg);

/* The time at which the block in progress times out, or -1 when no block is
 * in progress. */
int64_t line_parser_deadline(const struct line_parser *p);

/* 1 while a block is in progress (BEGIN seen, END not yet). */
int line_parser_in_block(const struct line_parser *p);

/* Forgets everything received (the port went away): back to hunting for BEGIN. */
void line_parser_reset(struct line_parser *p);

#endif
