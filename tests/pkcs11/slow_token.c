/*
 * slow_token.c - a PKCS#11 module for tests that stands in front of a real one
 * (SoftHSM by default) and behaves like a slow or failing hardware token.
 *
 * Every call is forwarded to the real module, except that C_Sign can be made
 * slow, fail, lie or hang, C_Login can hang, and the whole token can be pulled
 * out and put back. It is a test double of a token, not station code: the
 * station loads it as it would load any module (hsm.module).
 *
 * Environment, read at C_GetFunctionList:
 *   SLOW_TOKEN_MODULE     the real module (default /usr/lib/softhsm/libsofthsm2.so)
 *   SLOW_TOKEN_DELAY_MS   milliseconds added to every C_Sign (default 0): a USB
 *                         HSM takes tens of milliseconds per ECDSA signature
 *   SLOW_TOKEN_CONTROL    a file read before every call; its first word says
 *                         what the token does (missing or empty file: ok):
 *                           ok               forward everything
 *                           fail             C_Sign returns CKR_FUNCTION_FAILED
 *                           removed          C_Sign returns CKR_DEVICE_REMOVED
 *                                            (only C_Sign: everything else works)
 *                           session-closed   C_Sign returns CKR_SESSION_HANDLE_INVALID
 *                           corrupt          C_Sign is forwarded, then a bit of
 *                                            the signature is flipped
 *                           hang             C_Sign sleeps until the file says
 *                                            something else, then does that
 *                           login-hang       C_Login sleeps until the file says
 *                                            something else, then does that
 *                           unplugged        the token is pulled out, as a USB
 *                                            token is: see below
 *                         an optional second word N lets the first N C_Sign
 *                         calls of the process through untouched ("corrupt 1":
 *                         the station's key proof at login passes, the first
 *                         certificate comes back corrupted; "unplugged 4": the
 *                         token is pulled out once 4 C_Sign calls were made);
 *                         an optional third word M limits the word to M more
 *                         C_Sign calls, then "ok" ("fail 1 1": only the second
 *                         C_Sign fails). Calls other than C_Sign see the word
 *                         that holds for the number of C_Sign calls made so far.
 *   SLOW_TOKEN_COUNT      a file to which one line is appended per C_Sign that
 *                         returned a signature (for tests that count signatures)
 *   SLOW_TOKEN_LOGINS     a file to which one line is appended per C_Login call
 *                         (for tests that count login attempts)
 *
 * "unplugged": the first call that reads the word pulls the token out. Its
 * sessions die with it, and it forgets its login (the real module is logged
 * out). While the word stays:
 *   - C_GetSlotList(tokenPresent = TRUE) lists no slot, C_GetSlotInfo clears
 *     CKF_TOKEN_PRESENT;
 *   - C_GetTokenInfo, C_GetMechanismList, C_GetMechanismInfo, C_InitToken and
 *     C_OpenSession return CKR_TOKEN_NOT_PRESENT;
 *   - every call on any session (C_Login, C_Sign, C_FindObjects...) returns
 *     CKR_DEVICE_REMOVED.
 * When the word changes back (the token is put back), new sessions and logins
 * work again, but every session opened before the removal stays dead: a call
 * on it returns CKR_SESSION_HANDLE_INVALID, as with real hardware. Closing a
 * dead session returns the same code (the real module's session is released).
 * Also as a hardware token (and the standard) does and SoftHSM does not,
 * C_Logout while nobody is logged in returns CKR_USER_NOT_LOGGED_IN.
 * Without SLOW_TOKEN_CONTROL no session is tracked and calls go straight
 * through (the benchmarks).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR slow_real;
static CK_FUNCTION_LIST slow_list;
static long slow_delay_ms;
static long slow_signs;          /* C_Sign calls of this process so far */
static int slow_watch;           /* a control file is named: track sessions */

/* Sessions opened through this module, with the plug-in they belong to. */
struct slow_session {
  CK_SESSION_HANDLE handle;
  unsigned epoch;
};
static pthread_mutex_t slow_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slow_session *slow_sessions;
static size_t slow_session_count, slow_session_cap;
static unsigned slow_epoch;      /* +1 each time the token is pulled out */
static int slow_unplugged;       /* the token is out now */

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

/* ---- the token pulled out and put back ---- */

/* Takes WORD into the plug state: the first "unplugged" pulls the token out
 * (its sessions die, its login is lost), another word puts it back. */
static void slow_track(const char *word)
{
  int out = strcmp(word, "unplugged") == 0;
  if (!slow_watch)
    return;
  pthread_mutex_lock(&slow_lock);
  if (out && !slow_unplugged) {
    slow_epoch++;
    /* a token pulled out forgets who was logged in: log the real one out
     * (through any session it still has; they are all dead to callers now) */
    if (slow_session_count > 0)
      slow_real->C_Logout(slow_sessions[0].handle);
  }
  slow_unplugged = out;
  pthread_mutex_unlock(&slow_lock);
}

/* Reads the control word for a call other than C_Sign and takes it into the
 * plug state. Returns 1 while the token is pulled out. */
static int slow_mode(char *word, size_t cap)
{
  slow_control(word, cap, __atomic_load_n(&slow_signs, __ATOMIC_RELAXED));
  slow_track(word);
  return slow_watch && strcmp(word, "unplugged") == 0;
}

/* Index of SESSION in the table, or -1. Call with slow_lock held. */
static long slow_find(CK_SESSION_HANDLE session)
{
  for (size_t i = 0; i < slow_session_count; i++)
    if (slow_sessions[i].handle == session)
      return (long)i;
  return -1;
}

/* 1 when SESSION is dead (the token is out, or it was opened before the last
 * removal), with *RV the code a call on it returns. */
static int slow_dead(CK_SESSION_HANDLE session, CK_RV *rv)
{
  int dead = 0;
  long i;
  if (!slow_watch)
    return 0;
  pthread_mutex_lock(&slow_lock);
  i = slow_find(session);
  if (slow_unplugged) {
    *rv = CKR_DEVICE_REMOVED;
    dead = 1;
  } else if (i >= 0 && slow_sessions[i].epoch != slow_epoch) {
    *rv = CKR_SESSION_HANDLE_INVALID;
    dead = 1;
  }
  pthread_mutex_unlock(&slow_lock);
  return dead;
}

/* Reads the control word, then says whether SESSION is dead (see slow_dead). */
static int slow_gone(CK_SESSION_HANDLE session, CK_RV *rv)
{
  char word[64];
  slow_mode(word, sizeof word);
  return slow_dead(session, rv);
}

/* Records SESSION as opened now (replacing a released handle the real module
 * gave out again). */
static void slow_remember(CK_SESSION_HANDLE session)
{
  long i;
  if (!slow_watch)
    return;
  pthread_mutex_lock(&slow_lock);
  i = slow_find(session);
  if (i < 0 && slow_session_count == slow_session_cap) {
    size_t cap = slow_session_cap ? slow_session_cap * 2 : 32;
    struct slow_session *grown = realloc(slow_sessions, cap * sizeof *grown);
    if (grown != NULL) {
      slow_sessions = grown;
      slow_session_cap = cap;
    }
  }
  if (i < 0 && slow_session_count < slow_session_cap)
    i = (long)slow_session_count++;
  if (i >= 0)
    slow_sessions[i] = (struct slow_session){session, slow_epoch};
  pthread_mutex_unlock(&slow_lock);
}

/* Drops SESSION from the table (ALL: every session). */
static void slow_forget(CK_SESSION_HANDLE session, int all)
{
  long i;
  if (!slow_watch)
    return;
  pthread_mutex_lock(&slow_lock);
  if (all) {
    slow_session_count = 0;
  } else if ((i = slow_find(session)) >= 0) {
    slow_sessions[i] = slow_sessions[--slow_session_count];
  }
  pthread_mutex_unlock(&slow_lock);
}

/* C_Finalize: every session of the application is gone; so is the table
 * (also when the module is unloaded, so that leak checkers see nothing). */
static void slow_forget_all(void)
{
  pthread_mutex_lock(&slow_lock);
  free(slow_sessions);
  slow_sessions = NULL;
  slow_session_count = slow_session_cap = 0;
  pthread_mutex_unlock(&slow_lock);
}

static CK_RV slow_finalize(CK_VOID_PTR reserved)
{
  CK_RV rv = slow_real->C_Finalize(reserved);
  if (rv == CKR_OK)
    slow_forget_all();
  return rv;
}

__attribute__((destructor)) static void slow_unload(void)
{
  slow_forget_all();
}

/* ---- slot and token calls ---- */

static CK_RV slow_get_slot_list(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
  char word[64];
  if (present && slow_mode(word, sizeof word) && count != NULL) {
    *count = 0; /* no slot holds a token */
    return CKR_OK;
  }
  return slow_real->C_GetSlotList(present, list, count);
}

static CK_RV slow_get_slot_info(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
  char word[64];
  int out = slow_mode(word, sizeof word);
  CK_RV rv = slow_real->C_GetSlotInfo(slot, info);
  if (rv == CKR_OK && out)
    info->flags &= ~(CK_FLAGS)CKF_TOKEN_PRESENT;
  return rv;
}

static CK_RV slow_get_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
  char word[64];
  return slow_mode(word, sizeof word) ? CKR_TOKEN_NOT_PRESENT : slow_real->C_GetTokenInfo(slot, info);
}

static CK_RV slow_get_mechanism_list(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
  char word[64];
  return slow_mode(word, sizeof word) ? CKR_TOKEN_NOT_PRESENT : slow_real->C_GetMechanismList(slot, list, count);
}

static CK_RV slow_get_mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info)
{
  char word[64];
  return slow_mode(word, sizeof word) ? CKR_TOKEN_NOT_PRESENT : slow_real->C_GetMechanismInfo(slot, type, info);
}

static CK_RV slow_init_token(CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len, CK_UTF8CHAR_PTR label)
{
  char word[64];
  return slow_mode(word, sizeof word) ? CKR_TOKEN_NOT_PRESENT : slow_real->C_InitToken(slot, pin, pin_len, label);
}

static CK_RV slow_open_session(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
                               CK_SESSION_HANDLE_PTR session)
{
  char word[64];
  CK_RV rv;
  if (slow_mode(word, sizeof word))
    return CKR_TOKEN_NOT_PRESENT;
  rv = slow_real->C_OpenSession(slot, flags, app, notify, session);
  if (rv == CKR_OK)
    slow_remember(*session);
  return rv;
}

static CK_RV slow_close_session(CK_SESSION_HANDLE session)
{
  CK_RV rv = CKR_OK;
  int dead = slow_gone(session, &rv);
  CK_RV real = slow_real->C_CloseSession(session); /* released either way */
  slow_forget(session, 0);
  return dead ? rv : real;
}

static CK_RV slow_close_all_sessions(CK_SLOT_ID slot)
{
  char word[64];
  CK_RV rv;
  slow_mode(word, sizeof word);
  rv = slow_real->C_CloseAllSessions(slot);
  slow_forget(0, 1);
  return rv;
}

/* ---- session calls: dead with the token that was pulled out ---- */

static CK_RV slow_login(CK_SESSION_HANDLE session, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len)
{
  char word[64];
  CK_RV rv = CKR_OK;
  slow_count("SLOW_TOKEN_LOGINS", "login\n");
  slow_mode(word, sizeof word);
  while (strcmp(word, "login-hang") == 0) {
    slow_sleep_ms(50);
    slow_mode(word, sizeof word);
  }
  if (slow_dead(session, &rv))
    return rv;
  return slow_real->C_Login(session, user, pin, pin_len);
}

/* As the standard says and SoftHSM does not: logging out of a token nobody
 * is logged in to is CKR_USER_NOT_LOGGED_IN (a token put back forgot its
 * login, and a caller must not take C_Logout's success for granted). */
static CK_RV slow_logout(CK_SESSION_HANDLE session)
{
  CK_RV rv = CKR_OK;
  CK_SESSION_INFO info;
  if (slow_gone(session, &rv))
    return rv;
  rv = slow_real->C_GetSessionInfo(session, &info);
  if (rv == CKR_OK && (info.state == CKS_RO_PUBLIC_SESSION || info.state == CKS_RW_PUBLIC_SESSION))
    return CKR_USER_NOT_LOGGED_IN;
  return slow_real->C_Logout(session);
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
  slow_track(word);
  if (slow_dead(session, &rv))
    return rv;
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

/* Every other call on a session, as X(name, parameters, arguments): the
 * session parameter is named s. Each is refused on a dead session and
 * forwarded otherwise. */
#define SLOW_SESSION_CALLS(X) \
  X(C_InitPIN, (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR a, CK_ULONG b), (s, a, b)) \
  X(C_SetPIN, (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR a, CK_ULONG b, CK_UTF8CHAR_PTR c, CK_ULONG d), (s, a, b, c, d)) \
  X(C_GetSessionInfo, (CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR a), (s, a)) \
  X(C_GetOperationState, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG_PTR b), (s, a, b)) \
  X(C_SetOperationState, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b, CK_OBJECT_HANDLE c, CK_OBJECT_HANDLE d), \
    (s, a, b, c, d)) \
  X(C_CreateObject, (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR a, CK_ULONG b, CK_OBJECT_HANDLE_PTR c), (s, a, b, c)) \
  X(C_CopyObject, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE a, CK_ATTRIBUTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE_PTR d), \
    (s, a, b, c, d)) \
  X(C_DestroyObject, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE a), (s, a)) \
  X(C_GetObjectSize, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE a, CK_ULONG_PTR b), (s, a, b)) \
  X(C_GetAttributeValue, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE a, CK_ATTRIBUTE_PTR b, CK_ULONG c), (s, a, b, c)) \
  X(C_SetAttributeValue, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE a, CK_ATTRIBUTE_PTR b, CK_ULONG c), (s, a, b, c)) \
  X(C_FindObjectsInit, (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR a, CK_ULONG b), (s, a, b)) \
  X(C_FindObjects, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR a, CK_ULONG b, CK_ULONG_PTR c), (s, a, b, c)) \
  X(C_FindObjectsFinal, (CK_SESSION_HANDLE s), (s)) \
  X(C_EncryptInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a, CK_OBJECT_HANDLE b), (s, a, b)) \
  X(C_Encrypt, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d), (s, a, b, c, d)) \
  X(C_EncryptUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d), (s, a, b, c, d)) \
  X(C_EncryptFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG_PTR b), (s, a, b)) \
  X(C_DecryptInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a, CK_OBJECT_HANDLE b), (s, a, b)) \
  X(C_Decrypt, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d), (s, a, b, c, d)) \
  X(C_DecryptUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d), (s, a, b, c, d)) \
  X(C_DecryptFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG_PTR b), (s, a, b)) \
  X(C_DigestInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a), (s, a)) \
  X(C_Digest, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d), (s, a, b, c, d)) \
  X(C_DigestUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b), (s, a, b)) \
  X(C_DigestKey, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE a), (s, a)) \
  X(C_DigestFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG_PTR b), (s, a, b)) \
  X(C_SignInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a, CK_OBJECT_HANDLE b), (s, a, b)) \
  X(C_SignUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b), (s, a, b)) \
  X(C_SignFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG_PTR b), (s, a, b)) \
  X(C_SignRecoverInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a, CK_OBJECT_HANDLE b), (s, a, b)) \
  X(C_SignRecover, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d), (s, a, b, c, d)) \
  X(C_VerifyInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a, CK_OBJECT_HANDLE b), (s, a, b)) \
  X(C_Verify, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG d), (s, a, b, c, d)) \
  X(C_VerifyUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b), (s, a, b)) \
  X(C_VerifyFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b), (s, a, b)) \
  X(C_VerifyRecoverInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a, CK_OBJECT_HANDLE b), (s, a, b)) \
  X(C_VerifyRecover, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d), \
    (s, a, b, c, d)) \
  X(C_DigestEncryptUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d), \
    (s, a, b, c, d)) \
  X(C_DecryptDigestUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d), \
    (s, a, b, c, d)) \
  X(C_SignEncryptUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d), \
    (s, a, b, c, d)) \
  X(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c, CK_ULONG_PTR d), \
    (s, a, b, c, d)) \
  X(C_GenerateKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a, CK_ATTRIBUTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE_PTR d), \
    (s, a, b, c, d)) \
  X(C_GenerateKeyPair, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a, CK_ATTRIBUTE_PTR b, CK_ULONG c, CK_ATTRIBUTE_PTR d, \
                        CK_ULONG e, CK_OBJECT_HANDLE_PTR f, CK_OBJECT_HANDLE_PTR g), (s, a, b, c, d, e, f, g)) \
  X(C_WrapKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a, CK_OBJECT_HANDLE b, CK_OBJECT_HANDLE c, CK_BYTE_PTR d, \
                CK_ULONG_PTR e), (s, a, b, c, d, e)) \
  X(C_UnwrapKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a, CK_OBJECT_HANDLE b, CK_BYTE_PTR c, CK_ULONG d, \
                  CK_ATTRIBUTE_PTR e, CK_ULONG f, CK_OBJECT_HANDLE_PTR g), (s, a, b, c, d, e, f, g)) \
  X(C_DeriveKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d, \
                  CK_OBJECT_HANDLE_PTR e), (s, a, b, c, d, e)) \
  X(C_SeedRandom, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b), (s, a, b)) \
  X(C_GenerateRandom, (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b), (s, a, b)) \
  X(C_GetFunctionStatus, (CK_SESSION_HANDLE s), (s)) \
  X(C_CancelFunction, (CK_SESSION_HANDLE s), (s))

#define SLOW_WRAP(name, params, args)   \
  static CK_RV slow_##name params       \
  {                                     \
    CK_RV rv = CKR_OK;                  \
    if (slow_gone(s, &rv))              \
      return rv;                        \
    return slow_real->name args;        \
  }
SLOW_SESSION_CALLS(SLOW_WRAP)
#undef SLOW_WRAP

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
    slow_watch = getenv("SLOW_TOKEN_CONTROL") != NULL;
    if (slow_watch) {
      slow_list.C_Finalize = slow_finalize;
      slow_list.C_GetSlotList = slow_get_slot_list;
      slow_list.C_GetSlotInfo = slow_get_slot_info;
      slow_list.C_GetTokenInfo = slow_get_token_info;
      slow_list.C_GetMechanismList = slow_get_mechanism_list;
      slow_list.C_GetMechanismInfo = slow_get_mechanism_info;
      slow_list.C_InitToken = slow_init_token;
      slow_list.C_OpenSession = slow_open_session;
      slow_list.C_CloseSession = slow_close_session;
      slow_list.C_CloseAllSessions = slow_close_all_sessions;
      slow_list.C_Logout = slow_logout;
#define SLOW_HOOK(name, params, args) slow_list.name = slow_##name;
      SLOW_SESSION_CALLS(SLOW_HOOK)
#undef SLOW_HOOK
    }
  }
  *list = &slow_list;
  return CKR_OK;
}
