/* encoding.c - hex, base64, percent-encoding and UTC time text (see encoding.h). */
#include "encoding.h"

#include <string.h>

static const char st_hex_lower[] = "0123456789abcdef";
static const char st_hex_upper[] = "0123456789ABCDEF";
static const char st_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The value of one hex digit from DIGITS (lower- or upper-case set), or -1. */
static int st_hex_value(char c, const char *digits)
{
  int v = -1;
  for (int i = 0; i < 16; i++) {
    if (digits[i] == c) {
      v = i;
      break;
    }
  }
  return v;
}

void st_hex_encode(char *out, const uint8_t *in, size_t len)
{
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = st_hex_lower[in[i] >> 4];
    out[2 * i + 1] = st_hex_lower[in[i] & 0x0f];
  }
  out[2 * len] = '\0';
}

bool st_hex_decode(uint8_t *out, const char *in, size_t in_len)
{
  bool ok = (in_len % 2 == 0);
  for (size_t i = 0; ok && i < in_len; i += 2) {
    int hi = st_hex_value(in[i], st_hex_lower);
    int lo = st_hex_value(in[i + 1], st_hex_lower);
    if (hi < 0 || lo < 0)
      ok = false;
    else
      out[i / 2] = (uint8_t)(hi << 4 | lo);
  }
  return ok;
}

size_t st_base64_len(size_t len)
{
  size_t groups = len / 3 + (len % 3 != 0);
  return groups > SIZE_MAX / 4 - 1 ? SIZE_MAX : groups * 4;
}

void st_base64_encode(char *out, const uint8_t *in, size_t len)
{
  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    size_t left = len - i;
    uint32_t v = (uint32_t)in[i] << 16;
    if (left > 1)
      v |= (uint32_t)in[i + 1] << 8;
    if (left > 2)
      v |= in[i + 2];
    out[o++] = st_b64_alphabet[v >> 18 & 63];
    out[o++] = st_b64_alphabet[v >> 12 & 63];
    out[o++] = left > 1 ? st_b64_alphabet[v >> 6 & 63] : '=';
    out[o++] = left > 2 ? st_b64_alphabet[v & 63] : '=';
  }
  out[o] = '\0';
}

/* The 6-bit value of a base64 alphabet character, or -1. */
static int st_b64_value(char c)
{
  int v = -1;
  if (c >= 'A' && c <= 'Z')
    v = c - 'A';
  else if (c >= 'a' && c <= 'z')
    v = c - 'a' + 26;
  else if (c >= '0' && c <= '9')
    v = c - '0' + 52;
  else if (c == '+')
    v = 62;
  else if (c == '/')
    v = 63;
  return v;
}

bool st_base64_decode(uint8_t *out, size_t *out_len, const char *in, size_t in_len)
{
  bool ok = (in_len % 4 == 0);
  size_t o = 0;
  for (size_t i = 0; ok && i < in_len; i += 4) {
    int last = (i + 4 == in_len);
    /* '=' may stand only in the last two places of the last group, and a
     * padded third place needs a padded fourth. */
    int pad = 0;
    if (last && in[i + 3] == '=')
      pad = (in[i + 2] == '=') ? 2 : 1;
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
      int d = (k >= 4 - pad) ? 0 : st_b64_value(in[i + k]);
      if (d < 0) {
        ok = false;
        break;
      }
      v = v << 6 | (uint32_t)d;
    }
    if (!ok)
      break;
    /* Bits the padding leaves over must be zero: one spelling per value. */
    if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0)) {
      ok = false;
      break;
    }
    out[o++] = (uint8_t)(v >> 16);
    if (pad < 2)
      out[o++] = (uint8_t)(v >> 8);
    if (pad < 1)
      out[o++] = (uint8_t)v;
  }
  *out_len = ok ? o : 0;
  return ok;
}

/* Whether byte C is written as %XX in a percent-encoded field. */
static bool st_pct_needs(unsigned char c)
{
  return c < 0x21 || c > 0x7e || c == '%';
}

size_t st_pct_len(const char *value)
{
  size_t n = 0;
  if (value == NULL || value[0] == '\0')
    n = 1;
  else if (strcmp(value, "-") == 0)
    n = 3;
  else
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++)
      n += st_pct_needs(*p) ? 3 : 1;
  return n;
}

void st_pct_encode(char *out, const char *value)
{
  if (value == NULL || value[0] == '\0') {
    strcpy(out, "-");
  } else if (strcmp(value, "-") == 0) {
    strcpy(out, "%2D");
  } else {
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
      if (st_pct_needs(*p)) {
        out[o++] = '%';
        out[o++] = st_hex_upper[*p >> 4];
        out[o++] = st_hex_upper[*p & 0x0f];
      } else {
        out[o++] = (char)*p;
      }
    }
    out[o] = '\0';
  }
}

bool st_pct_decode(char *out, const char *in, size_t in_len)
{
  bool ok = in_len > 0;
  size_t o = 0;
  if (in_len == 1 && in[0] == '-') {
    in_len = 0; /* no value: "" */
  } else if (in_len == 3 && memcmp(in, "%2D", 3) == 0) {
    out[o++] = '-';
    in_len = 0;
  }
  for (size_t i = 0; ok && i < in_len; i++) {
    unsigned char c = (unsigned char)in[i];
    if (c == '%') {
      int hi = i + 2 < in_len ? st_hex_value(in[i + 1], st_hex_upper) : -1;
      int lo = i + 2 < in_len ? st_hex_value(in[i + 2], st_hex_upper) : -1;
      unsigned char d = (hi < 0 || lo < 0) ? 0 : (unsigned char)(hi << 4 | lo);
      /* %00 would cut the string; %41 for 'A' would be a second spelling. */
      if (d == 0 || !st_pct_needs(d))
        ok = false;
      out[o++] = (char)d;
      i += 2;
    } else if (st_pct_needs(c)) {
      ok = false;
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = '\0';
  return ok;
}

/* Days from 1970-01-01 to the proleptic Gregorian date Y-M-D, Y >= 0 (the
 * "days from civil" method: years start in March so the leap day is last). */
static int64_t st_days_from_civil(int64_t y, int m, int d)
{
  y -= m <= 2;
  int64_t era = y / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* The inverse of st_days_from_civil for DAYS >= 0. */
static void st_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
  int64_t z = days + 719468;
  int64_t era = z / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

/* Writes V as exactly WIDTH decimal digits (V fits). */
static void st_put_digits(char *out, int64_t v, int width)
{
  for (int i = width - 1; i >= 0; i--) {
    out[i] = (char)('0' + v % 10);
    v /= 10;
  }
}

bool st_time_format(char *out, int64_t ms)
{
  bool ok = ms >= 0 && ms <= ST_TIME_MAX_MS;
  int64_t rest = ok ? ms % 86400000 : 0, y = 0;
  int m = 0, d = 0;
  if (!ok)
    return ok;
  st_civil_from_days(ms / 86400000, &y, &m, &d);
  memcpy(out, "0000-00-00T00:00:00.000Z", ST_TIME_LEN + 1);
  st_put_digits(out, y, 4);
  st_put_digits(out + 5, m, 2);
  st_put_digits(out + 8, d, 2);
  st_put_digits(out + 11, rest / 3600000, 2);
  st_put_digits(out + 14, rest / 60000 % 60, 2);
  st_put_digits(out + 17, rest / 1000 % 60, 2);
  st_put_digits(out + 20, rest % 1000, 3);
  return ok;
}

/* Reads WIDTH decimal digits at IN into *V; false if any is not a digit. */
static bool st_get_digits(const char *in, int width, int *v)
{
  bool ok = true;
  *v = 0;
  for (int i = 0; i < width; i++) {
    if (in[i] < '0' || in[i] > '9')
      ok = false;
    *v = *v * 10 + (in[i] - '0');
  }
  return ok;
}

/* The days of month M (1-12) of year Y in the Gregorian calendar. */
static int st_days_in_month(int y, int m)
{
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return days[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

bool st_time_parse_rfc3339(int64_t *ms, const char *text)
{
  int y, mo, d, h, mi, s, oh = 0, om = 0, frac = 0, digits_read = 0;
  const char *p = text;
  bool ok = strlen(text) >= 20 && st_get_digits(p, 4, &y) && p[4] == '-' && st_get_digits(p + 5, 2, &mo) &&
            p[7] == '-' && st_get_digits(p + 8, 2, &d) && (p[10] == 'T' || p[10] == 't' || p[10] == ' ') &&
            st_get_digits(p + 11, 2, &h) && p[13] == ':' && st_get_digits(p + 14, 2, &mi) && p[16] == ':' &&
            st_get_digits(p + 17, 2, &s);
  int sign = 1;
  p += 19;
  if (ok && *p == '.') {
    for (p++; *p >= '0' && *p <= '9'; p++, digits_read++)
      if (digits_read < 3)
        frac = frac * 10 + (*p - '0');
    ok = digits_read > 0;
    for (; digits_read > 0 && digits_read < 3; digits_read++)
      frac *= 10;
  }
  if (ok && (*p == 'Z' || *p == 'z')) {
    ok = p[1] == '\0';
  } else if (ok && (*p == '+' || *p == '-')) {
    sign = *p == '-' ? -1 : 1;
    ok = st_get_digits(p + 1, 2, &oh) && p[3] == ':' && st_get_digits(p + 4, 2, &om) && p[6] == '\0' && oh < 24 &&
         om < 60;
  } else {
    ok = false;
  }
  ok = ok && y >= 1970 && mo >= 1 && mo <= 12 && d >= 1 && d <= st_days_in_month(y, mo) && h < 24 && mi < 60 &&
       s < 61;
  if (ok) /* a leap second counts as the second before it */
    *ms = (((st_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + (s > 59 ? 59 : s) -
           (int64_t)sign * (oh * 60 + om) * 60) * 1000 + frac;
  return ok;
}

bool st_time_parse(int64_t *ms, const char *in, size_t in_len)
{
  char text[ST_TIME_LEN + 1];
  if (in_len != ST_TIME_LEN || in[10] != 'T' || in[19] != '.' || in[23] != 'Z' || in[17] > '5')
    return false;
  memcpy(text, in, ST_TIME_LEN);
  text[ST_TIME_LEN] = '\0';
  return st_time_parse_rfc3339(ms, text);
}
