/*
 * slow_token.c - a PKCS#11 module for tests that stands in front of a real one
 * (SoftHSM by default) and behaves like a slow or failing hardware token.
 *
 * Every call is forwarded to the real module, except that C_Sign can be made
 * slow, fail, lie or hang. It is a test double of a token, not station code:
 * the station loads it as it would load any module (hsm.module).
 *
 * Environment, read at C_GetFunctionList:
 *   SLOW_TOKEN_MODULE     the real module (default /usr/lib/softhsm/libsofthsm2.so)
 *   SLOW_TOKEN_DELAY_MS   milliseconds added to every C_Sign (default 0): a USB
 *                         HSM takes tens of milliseconds per ECDSA signature
 *   SLOW_TOKEN_CONTROL    a file read before every C_Sign; its first word says
 *                         what that signature does:
 *                           ok               forward (also: missing or empty file)
 *                           fail             return CKR_FUNCTION_FAILED
 *                           removed          return CKR_DEVICE_REMOVED
 *                           session-closed   return CKR_SESSION_HANDLE_INVALID
 *                           corrupt          forward, then flip a bit of the signature
 *                           hang             sleep until the file says something else
 *                         an optional second word N lets the first N C_Sign
 *                         calls of the process through untouched ("corrupt 1":
 *                         the station's key proof at login passes, the first
 *                         certificate comes back corrupted); an optional third
 *                         word M limits the action to M calls, then "ok"
 *                         ("fail 1 1": only the second C_Sign fails)
 *   SLOW_TOKEN_COUNT      a file to which one line is appended per C_Sign (for
 *                         tests that count signatures)
 *   SLOW_TOKEN_LOGINS     a file to which one line is appended per C_Login (for
 *                         tests that count login attempts)
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR slow_real;
static CK_FUNCTION_LIST slow_list;
static long slow_delay_ms;
static long slow_signs;          /* C_Sign calls of this process so far */

static void slow_sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* The first word of the control file, or "ok" (also while the optional
 * second word N is above SEEN, the C_Sign calls before this one, and from
 * call N + M on when a third word M is given). */
static void slow_control(char *word, size_t cap, long seen)
{
  const char *path = getenv("SLOW_TOKEN_CONTROL");
  FILE *f = path != NULL ? fopen(path, "r") : NULL;
  snprintf(word, cap, "ok");
  if (f != NULL) {
    char buf[64] = "";
    long skip = 0, limit = 0;
    int n = fscanf(f, "%63s %ld %ld", buf, &skip, &limit);
    if (n >= 1 && (n < 2 || seen >= skip) && (n < 3 || seen < skip + limit))
      snprintf(word, cap, "%s", buf);
    fclose(f);
  }
}

/* Appends LINE to the file named by the environment variable VAR, if set. */
static void slow_count(const char *var, const char *line)
{
  const char *path = getenv(var);
  FILE *f = path != NULL ? fopen(path, "a") : NULL;
  if (f != NULL) {
    fputs(line, f);
    fclose(f);
  }
}

static CK_RV slow_login(CK_SESSION_HANDLE session, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len)
{
  slow_count("SLOW_TOKEN_LOGINS", "login\n");
  return slow_real->C_Login(session, user, pin, pin_len);
}

static CK_RV slow_sign(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG data_len, CK_BYTE_PTR sig,
                       CK_ULONG_PTR sig_len)
{
  char word[64];
  CK_RV rv;
  long seen = sig != NULL ? __atomic_fetch_add(&slow_signs, 1, __ATOMIC_RELAXED) : slow_signs;
  slow_control(word, sizeof word, seen);
  while (strcmp(word, "hang") == 0) {
    slow_sleep_ms(50);
    slow_control(word, sizeof word, seen);
  }
  if (strcmp(word, "fail") == 0 || strcmp(word, "removed") == 0 || strcmp(word, "session-closed") == 0) {
    /* a failed C_Sign ends the operation (PKCS#11 5.2): end the real one, keep nothing of it */
    CK_BYTE scratch[512];
    CK_ULONG scratch_len = sizeof scratch;
    slow_real->C_Sign(session, data, data_len, scratch, &scratch_len);
    return strcmp(word, "fail") == 0 ? CKR_FUNCTION_FAILED
         : strcmp(word, "removed") == 0 ? CKR_DEVICE_REMOVED : CKR_SESSION_HANDLE_INVALID;
  }
  if (sig != NULL && slow_delay_ms > 0)
    slow_sleep_ms(slow_delay_ms);
  rv = slow_real->C_Sign(session, data, data_len, sig, sig_len);
  if (rv == CKR_OK && sig != NULL) {
    slow_count("SLOW_TOKEN_COUNT", "sign\n");
    if (strcmp(word, "corrupt") == 0 && *sig_len > 0)
      sig[*sig_len / 2] ^= 0x01;
  }
  return rv;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
  const char *path = getenv("SLOW_TOKEN_MODULE");
  const char *delay = getenv("SLOW_TOKEN_DELAY_MS");
  void *module;
  CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);

  if (list == NULL)
    return CKR_ARGUMENTS_BAD;
  if (slow_real == NULL) {
    module = dlopen(path != NULL ? path : "/usr/lib/softhsm/libsofthsm2.so", RTLD_NOW | RTLD_LOCAL);
    get = module != NULL ? (CK_RV(*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(module, "C_GetFunctionList") : NULL;
    if (get == NULL || get(&slow_real) != CKR_OK)
      return CKR_GENERAL_ERROR;
    slow_list = *slow_real;
    slow_list.C_Sign = slow_sign;
    slow_list.C_Login = slow_login;
    slow_delay_ms = delay != NULL ? strtol(delay, NULL, 10) : 0;
  }
  *list = &slow_list;
  return CKR_OK;
}
