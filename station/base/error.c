/* error.c - lookups in the one error table (see error.h). */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

struct st_error_row {
  int code;
  enum st_error_class cls;
  const char *name;
  const char *sentence;
  unsigned flags;
};

#define ST_ERROR_ROW(sym, val, cls, name, sentence, flags) {val, ST_CLASS_##cls, name, sentence, flags},
static const struct st_error_row st_error_rows[] = {ST_ERROR_TABLE(ST_ERROR_ROW)};
#undef ST_ERROR_ROW

static const struct st_error_row *st_error_row_of(int code)
{
  const struct st_error_row *found = NULL;
  for (size_t i = 0; i < sizeof st_error_rows / sizeof st_error_rows[0]; i++) {
    if (st_error_rows[i].code == code) {
      found = &st_error_rows[i];
      break;
    }
  }
  return found;
}

const char *st_error_name(int code)
{
  const struct st_error_row *row = st_error_row_of(code);
  return row != NULL ? row->name : "unknown";
}

const char *st_error_sentence(int code)
{
  const struct st_error_row *row = st_error_row_of(code);
  return row != NULL ? row->sentence : "Unknown error.";
}

enum st_error_class st_error_class_of(int code)
{
  const struct st_error_row *row = st_error_row_of(code);
  return row != NULL ? row->cls : ST_CLASS_FAULT;
}

int st_error_has(int code, unsigned flags)
{
  const struct st_error_row *row = st_error_row_of(code);
  return row != NULL && flags != 0 && (row->flags & flags) == flags;
}

void st_detail_set(struct st_detail *d, const char *fmt, ...)
{
  va_list ap;
  if (d == NULL)
    return;
  va_start(ap, fmt);
  vsnprintf(d->text, sizeof d->text, fmt, ap);
  va_end(ap);
}

void st_detail_add_openssl(struct st_detail *d)
{
  unsigned long e = ERR_peek_error();
  if (d != NULL && e != 0) {
    char buf[256];
    size_t used = strlen(d->text);
    ERR_error_string_n(e, buf, sizeof buf);
    if (used < sizeof d->text)
      snprintf(d->text + used, sizeof d->text - used, "%s%s", used > 0 ? ": " : "", buf);
  }
  ERR_clear_error();
}
