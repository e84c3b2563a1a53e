/*
 * hsm.c - the token through libp11 0.4.12 (see hsm.h), and PKCS#11 URIs
 * through p11-kit's parser (at the end of this file).
 *
 * libp11 loads the module, lists the slots, logs in and keeps a pool of open
 * sessions on the slot; its private-key EVP_PKEYs run the signature in the
 * token and may be used from several threads. What libp11 learnt about the
 * token (its key list, its login state) is a cache:
 *   - PKCS11_enumerate_keys runs C_FindObjects again on each call and appends
 *     the objects it has not met before, so a key generated through
 *     hsm_pkcs11.c is found by the next hsm_find_key. The array it returns may
 *     move (realloc) on the next call and is wiped by PKCS11_logout, so no
 *     PKCS11_KEY pointer is kept here: an hsm_key holds its own label and id
 *     and one reference on the EVP_PKEY.
 *   - A token may drop the handles of private objects at logout (SoftHSM
 *     does), so after a new login every live hsm_key is looked up again and
 *     given a fresh EVP_PKEY (hsm_refresh_keys); callers take the signer from
 *     hsm_key_signer() when they sign rather than keep it across a lock.
 *   - PKCS11_is_logged_in answers from libp11's bookkeeping, not the token;
 *     hsm_token_info asks the token.
 *   - PKCS11_login keeps a copy of the PIN inside libp11 (to log in again
 *     after a fork) until the slot is released. The station keeps none.
 *   - libp11 0.4.12 keeps the slot's sessions in a pool and hands them out
 *     without asking the token whether they are still alive; with the pool
 *     empty and C_OpenSession failing (no token) it waits for ever for one to
 *     come back. A token pulled out and put back leaves the pool full of dead
 *     sessions: hsm_relogin checks the token is there, then empties the pool
 *     (hsm_relogin_fresh explains how).
 *   - PKCS11_enumerate_public_keys + PKCS11_get_public_key work but leak the
 *     public-key object, which pins the slot (and so libp11's PIN copy) for
 *     the life of the process; hsm_key_public therefore reads CKA_EC_POINT
 *     through hsm_pkcs11.c instead.
 * A refused login is told apart from other failures by the CKR_ value that
 * libp11 puts on the OpenSSL error queue (library ERR_get_CKR_code(), the
 * reason being the CK_RV).
 */
#include "hsm_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <p11-kit/uri.h>

#include "error.h"
#include "log.h"

/* Copies LABEL into OUT (OUT_SIZE bytes) without its trailing blanks. */
static void hsm_trim_label(char *out, size_t out_size, const char *label)
{
  hsm_copy_padded(out, out_size, (const unsigned char *)label, strnlen(label, out_size - 1));
}

/* Finds the slot whose token is labelled WANT (trailing blanks ignored) and
 * sets h->slot, or fills DETAIL with the labels that were seen. Returns 0 or
 * ST_E_HSM_TOKEN (none, or more than one token with that label). */
static int hsm_find_slot(struct hsm *h, const char *want, struct st_detail *detail)
{
  char seen[256] = "";
  size_t used = 0;
  unsigned int matches = 0;

  for (unsigned int i = 0; i < h->nslots; i++) {
    PKCS11_TOKEN *tok = h->slots[i].token;
    char label[33];
    if (tok == NULL || tok->label == NULL)
      continue;
    hsm_trim_label(label, sizeof label, tok->label);
    if (used < sizeof seen)
      used += (size_t)snprintf(seen + used, sizeof seen - used, "%s\"%s\"", used > 0 ? ", " : "",
                               label);
    if (tok->initialized && strcmp(label, want) == 0) {
      if (matches++ == 0)
        h->slot = &h->slots[i];
    }
  }
  if (matches == 0) {
    st_detail_set(detail, "no token labelled \"%s\" in %s; tokens seen: %s", want, h->module_path,
                  used > 0 ? seen : "none");
    return ST_E_HSM_TOKEN;
  }
  if (matches > 1) {
    h->slot = NULL;
    st_detail_set(detail, "%u tokens labelled \"%s\" in %s; the station needs exactly one",
                  matches, want, h->module_path);
    return ST_E_HSM_TOKEN;
  }
  return 0;
}

int hsm_open(const char *module_path, const char *token_label, struct hsm **out,
             struct st_detail *detail)
{
  int r = ST_E_HSM_MODULE;
  struct hsm *h = NULL;
  struct stat st;
  size_t label_len;

  if (module_path == NULL || token_label == NULL || out == NULL || token_label[0] == '\0') {
    r = ST_E_USAGE;
    st_detail_set(detail, "hsm_open needs a module path and a token label");
    goto out;
  }
  *out = NULL;
  label_len = strlen(token_label);
  while (label_len > 0 && token_label[label_len - 1] == ' ')
    label_len--;
  if (label_len >= sizeof h->token_label) {
    r = ST_E_HSM_TOKEN;
    st_detail_set(detail, "no token can be labelled \"%s\": a token label has at most %zu bytes",
                  token_label, sizeof h->token_label - 1);
    goto out;
  }
  h = calloc(1, sizeof *h);
  if (h == NULL || (h->module_path = strdup(module_path)) == NULL) {
    r = ST_E_NO_MEMORY;
    goto out;
  }
  hsm_trim_label(h->token_label, sizeof h->token_label, token_label);
  h->ctx = PKCS11_CTX_new();
  if (h->ctx == NULL) {
    r = ST_E_NO_MEMORY;
    goto out;
  }
  /* looked for first: libp11's loader would print the dynamic linker's words
   * on stderr before the station's own sentence */
  if (stat(module_path, &st) != 0) {
    st_detail_set(detail, "cannot load PKCS#11 module %s: no such file", module_path);
    goto out;
  }
  if (PKCS11_CTX_load(h->ctx, module_path) != 0) {
    ERR_clear_error();
    st_detail_set(detail, "cannot load PKCS#11 module %s: the file exists but does not load "
                  "as a PKCS#11 module", module_path);
    goto out;
  }
  h->loaded = 1;
  if (PKCS11_enumerate_slots(h->ctx, &h->slots, &h->nslots) != 0) {
    h->slots = NULL;
    h->nslots = 0;
    st_detail_set(detail, "cannot list the slots of PKCS#11 module %s", module_path);
    st_detail_add_openssl(detail);
    goto out;
  }
  r = hsm_find_slot(h, h->token_label, detail);
  if (r != 0)
    goto out;
  r = hsm_p11_open(module_path, PKCS11_get_slotid_from_slot(h->slot), &h->p11, detail);
  if (r != 0)
    goto out;
  *out = h;
  h = NULL;
  r = 0;
out:
  hsm_close(h);
  return r;
}

/* Lists the private keys on H's token and counts in *MATCHES those labelled
 * LABEL (and, when ID_LEN > 0, with CKA_ID ID); *MATCH is the last of them,
 * valid until the next libp11 enumeration or logout. Returns 0, or -1 when
 * libp11 cannot list the keys (its error left on the OpenSSL queue). */
static int hsm_match_private(struct hsm *h, const char *label, const unsigned char *id,
                             size_t id_len, PKCS11_KEY **match, unsigned int *matches)
{
  PKCS11_KEY *keys = NULL;
  unsigned int nkeys = 0;

  *match = NULL;
  *matches = 0;
  if (PKCS11_enumerate_keys(h->slot->token, &keys, &nkeys) != 0)
    return -1;
  for (unsigned int i = 0; i < nkeys; i++) {
    if (keys[i].label != NULL && strcmp(keys[i].label, label) == 0
        && (id_len == 0 || (keys[i].id_len == id_len && memcmp(keys[i].id, id, id_len) == 0))) {
      (*matches)++;
      *match = &keys[i];
    }
  }
  return 0;
}

int hsm_find_key(struct hsm *h, const char *label, struct hsm_key **out,
                 struct st_detail *detail)
{
  int r = ST_E_HSM;
  PKCS11_KEY *match = NULL;
  unsigned int matches = 0;
  int logged_in = 0;
  struct hsm_key *k = NULL;

  if (h == NULL || label == NULL || out == NULL || label[0] == '\0') {
    r = ST_E_USAGE;
    st_detail_set(detail, "hsm_find_key needs a handle and a key label");
    goto out;
  }
  *out = NULL;
  if (hsm_match_private(h, label, NULL, 0, &match, &matches) != 0) {
    st_detail_set(detail, "cannot list the private keys on token %s", h->token_label);
    st_detail_add_openssl(detail);
    goto out;
  }
  if (matches != 1) {
    r = ST_E_HSM_KEY;
    if (matches == 0) {
      PKCS11_is_logged_in(h->slot, 0, &logged_in);
      st_detail_set(detail, "no private key labelled \"%s\" on token %s%s", label, h->token_label,
                    logged_in ? "" : " (not logged in)");
    } else {
      st_detail_set(detail, "%u keys labelled \"%s\" on token %s", matches, label,
                    h->token_label);
    }
    goto out;
  }
  k = calloc(1, sizeof *k);
  if (k == NULL || (k->label = strdup(label)) == NULL) {
    r = ST_E_NO_MEMORY;
    goto out;
  }
  if (match->id_len > 0) {
    k->id = malloc(match->id_len);
    if (k->id == NULL) {
      r = ST_E_NO_MEMORY;
      goto out;
    }
    memcpy(k->id, match->id, match->id_len);
    k->id_len = match->id_len;
  }
  /* libp11 0.4.12 returns a new reference (the same EVP_PKEY each call). */
  k->signer = PKCS11_get_private_key(match);
  if (k->signer == NULL) {
    st_detail_set(detail, "key \"%s\" on token %s cannot be used", label, h->token_label);
    st_detail_add_openssl(detail);
    goto out;
  }
  k->h = h;
  k->next = h->keys;
  h->keys = k;
  *out = k;
  k = NULL;
  r = 0;
out:
  hsm_key_free(k);
  return r;
}

/* After a new login, gives every live key of H a fresh signing EVP_PKEY. A
 * token may invalidate the handles of private objects at logout (SoftHSM
 * does: the old EVP_PKEY then fails with CKR_OBJECT_HANDLE_INVALID), and
 * PKCS11_logout has wiped libp11's key list, so each key is looked up again
 * by label and id. The old EVP_PKEY is kept until hsm_key_free, so that a
 * pointer borrowed before stays valid memory. */
static void hsm_refresh_keys(struct hsm *h)
{
  for (struct hsm_key *k = h->keys; k != NULL; k = k->next) {
    PKCS11_KEY *match = NULL;
    unsigned int matches = 0;
    EVP_PKEY *fresh = NULL, **grown;

    if (hsm_match_private(h, k->label, k->id, k->id_len, &match, &matches) != 0 || matches != 1
        || (fresh = PKCS11_get_private_key(match)) == NULL) {
      ERR_clear_error();
      st_warn("hsm: key \"%s\" is no longer found on token %s after login", k->label,
              h->token_label);
      continue;
    }
    if (fresh == k->signer) { /* libp11 still had it: nothing changed */
      EVP_PKEY_free(fresh);
      continue;
    }
    grown = realloc(k->retired, (k->nretired + 1) * sizeof *grown);
    if (grown == NULL) {
      EVP_PKEY_free(fresh);
      st_warn("hsm: out of memory refreshing key \"%s\"", k->label);
      continue;
    }
    k->retired = grown;
    k->retired[k->nretired++] = k->signer;
    k->signer = fresh;
  }
}

/* Takes the CK_RV of the newest libp11 PKCS#11 error off the OpenSSL error
 * queue (which is left empty); 0 when there was none. */
static unsigned long hsm_take_ckr(void)
{
  unsigned long e, ckr = 0;
  int lib = ERR_get_CKR_code();
  while ((e = ERR_get_error()) != 0) {
    if (ERR_GET_LIB(e) == lib)
      ckr = ERR_GET_REASON(e);
  }
  return ckr;
}

/* Says in DETAIL why C_Login failed with CKR (0: no PKCS#11 code) and returns
 * ST_E_HSM_PIN_LOCKED, ST_E_HSM_PIN or ST_E_HSM. One attempt only: the
 * operator is told why, the station never tries again. */
static int hsm_login_failed(struct hsm *h, unsigned long ckr, struct st_detail *detail)
{
  int r = ST_E_HSM;
  struct hsm_token_info ti;
  char name[48];

  hsm_ckr_text(ckr, name, sizeof name);
  memset(&ti, 0, sizeof ti);
  if (hsm_p11_token_info(h->p11, &ti) != 0)
    memset(&ti, 0, sizeof ti);
  if (ckr == CKR_PIN_LOCKED || ti.pin_locked) {
    r = ST_E_HSM_PIN_LOCKED;
    st_detail_set(detail, "token %s: the user PIN is locked (%s)", h->token_label,
                  ckr != 0 ? name : "token flag");
  } else if (ckr == CKR_PIN_INCORRECT || ckr == CKR_PIN_INVALID || ckr == CKR_PIN_LEN_RANGE) {
    r = ST_E_HSM_PIN;
    st_detail_set(detail, "token %s refused the PIN (%s)%s", h->token_label, name,
                  ti.pin_final_try ? "; tries left: 1 (the token reports final try: one more wrong PIN locks it)"
                  : ti.pin_count_low
                      ? "; tries left: fewer than the token's maximum (it reports PIN count low, not a number)"
                      : "; tries left: the token reports no count (no count-low or final-try flag)");
  } else {
    st_detail_set(detail, "C_Login on token %s: %s", h->token_label,
                  ckr != 0 ? name : "failed (no PKCS#11 code)");
  }
  return r;
}

/* Logs in through a session of our own while libp11 believes it is logged
 * in already but the token says otherwise (after hsm_relogin_fresh, or a
 * failed attempt there): libp11's sessions then become user sessions too.
 * Returns 0 or the codes of hsm_login_failed. */
static int hsm_login_behind_libp11(struct hsm *h, const char *pin, struct st_detail *detail)
{
  int r = 0;
  CK_RV rv = hsm_p11_login(h->p11, pin);
  if (rv != CKR_OK)
    r = hsm_login_failed(h, rv, detail);
  else
    hsm_refresh_keys(h);
  return r;
}

int hsm_login(struct hsm *h, const char *pin, struct st_detail *detail)
{
  int logged_in = 0;
  struct hsm_token_info ti;

  if (h == NULL || pin == NULL) {
    st_detail_set(detail, "hsm_login needs a handle and a PIN");
    return ST_E_USAGE;
  }
  if (PKCS11_is_logged_in(h->slot, 0, &logged_in) == 0 && logged_in) {
    /* libp11 answers from its own bookkeeping: ask the token */
    memset(&ti, 0, sizeof ti);
    return hsm_p11_token_info(h->p11, &ti) == 0 && !ti.logged_in ? hsm_login_behind_libp11(h, pin, detail) : 0;
  }
  ERR_clear_error();
  if (PKCS11_login(h->slot, 0, pin) == 0) {
    hsm_refresh_keys(h);
    return 0;
  }
  return hsm_login_failed(h, hsm_take_ckr(), detail);
}

/* hsm_relogin when the sessions libp11 keeps died with the token: libp11
 * 0.4.12 hands out the sessions of its pool without asking the token, so
 * they must go. Closing every session of the slot (PKCS11_open_session with
 * the other read-write mode, then back, each calls C_CloseAllSessions and
 * empties the pool) leaves the token logged out, while libp11 still believes
 * it logged in. PKCS11_logout then drops libp11's cached key objects (their
 * handles may not survive a new login) and opens one fresh session to call
 * C_Logout on, which fails harmlessly (nobody is logged in) or succeeds.
 * hsm_login then logs in through libp11 when it knows it is logged out, else
 * through a session of our own (the login holds for libp11's fresh session). */
static int hsm_relogin_fresh(struct hsm *h, const char *pin, struct st_detail *detail)
{
  PKCS11_open_session(h->slot, 1);
  PKCS11_open_session(h->slot, 0);
  if (PKCS11_logout(h->slot) != 0)
    ERR_clear_error(); /* C_Logout: CKR_USER_NOT_LOGGED_IN, as expected */
  return hsm_login(h, pin, detail);
}

int hsm_relogin(struct hsm *h, const char *pin, struct st_detail *detail)
{
  int logged_in = 0;
  char name[48];

  if (h == NULL || pin == NULL) {
    st_detail_set(detail, "hsm_relogin needs a handle and a PIN");
    return ST_E_USAGE;
  }
  if (hsm_p11_token_present(h->p11) == 0) {
    /* before libp11 is asked anything: with no token, 0.4.12 may wait for
     * ever for a session it cannot open */
    st_detail_set(detail, "token %s is not in its slot: it was pulled out (plug it back in)", h->token_label);
    return ST_E_HSM;
  }
  ERR_clear_error();
  if (PKCS11_is_logged_in(h->slot, 0, &logged_in) == 0 && logged_in && PKCS11_logout(h->slot) == 0)
    return hsm_login(h, pin, detail); /* the sessions are alive */
  hsm_ckr_text(hsm_take_ckr(), name, sizeof name);
  st_info("hsm: the sessions on token %s are gone (%s); opening new ones", h->token_label,
          logged_in ? name : "not logged in");
  return hsm_relogin_fresh(h, pin, detail);
}

int hsm_logout(struct hsm *h)
{
  int logged_in = 1;

  if (h == NULL)
    return ST_E_HSM;
  if (PKCS11_is_logged_in(h->slot, 0, &logged_in) == 0 && !logged_in)
    return 0;
  if (PKCS11_logout(h->slot) != 0) {
    char name[48];
    hsm_ckr_text(hsm_take_ckr(), name, sizeof name);
    st_warn("hsm: C_Logout on token %s: %s", h->token_label, name);
    return ST_E_HSM;
  }
  return 0;
}

int hsm_token_info(struct hsm *h, struct hsm_token_info *info)
{
  if (h == NULL || info == NULL)
    return ST_E_HSM;
  memset(info, 0, sizeof *info);
  return hsm_p11_token_info(h->p11, info);
}

EVP_PKEY *hsm_key_signer(struct hsm_key *k)
{
  return k != NULL ? k->signer : NULL;
}

EVP_PKEY *hsm_key_public(struct hsm_key *k)
{
  EVP_PKEY *ret = NULL;
  unsigned char *der = NULL;
  const unsigned char *cursor;
  int der_len;

  if (k == NULL)
    goto out;
  ret = hsm_p11_public_key(k);
  if (ret != NULL)
    goto out;
  /* No CKA_EC_POINT on the token: the signer may still carry the point
   * libp11 found; a round trip through DER frees it from the token. */
  der_len = i2d_PUBKEY(k->signer, &der);
  if (der_len <= 0)
    goto out;
  cursor = der;
  ret = d2i_PUBKEY(NULL, &cursor, der_len);
out:
  ERR_clear_error();
  OPENSSL_free(der);
  return ret;
}

void hsm_key_free(struct hsm_key *k)
{
  if (k == NULL)
    return;
  if (k->h != NULL) {
    struct hsm_key **link = &k->h->keys;
    while (*link != NULL && *link != k)
      link = &(*link)->next;
    if (*link == k)
      *link = k->next;
  }
  for (size_t i = 0; i < k->nretired; i++)
    EVP_PKEY_free(k->retired[i]);
  free(k->retired);
  EVP_PKEY_free(k->signer);
  free(k->id);
  free(k->label);
  free(k);
}

void hsm_close(struct hsm *h)
{
  if (h == NULL)
    return;
  hsm_p11_close(h->p11);
  if (h->slots != NULL)
    PKCS11_release_all_slots(h->ctx, h->slots, h->nslots);
  if (h->ctx != NULL) {
    if (h->loaded)
      PKCS11_CTX_unload(h->ctx);
    PKCS11_CTX_free(h->ctx);
  }
  free(h->module_path);
  free(h);
}

/*
 * PKCS#11 URIs (RFC 7512), read by p11-kit.
 *
 *   pkcs11:ATTR=VALUE;ATTR=VALUE...?ATTR=VALUE&ATTR=VALUE...
 *
 * p11_kit_uri_parse checks the scheme (any case), the name=value form and the
 * %XX escapes, and decodes the values: the station takes token from its
 * CK_TOKEN_INFO label, object from its CKA_LABEL, and module-path and
 * pin-source from their getters. A pin-value or a module-name p11-kit read is
 * refused (a PIN never goes in argv; the station loads a module by path).
 *
 * p11-kit is lenient where the RFC lets it be: it skips blanks, ignores an
 * attribute it does not know or meets in the wrong part, and lets a second
 * copy replace the first. A misspelt attribute of a signing key's URI must not
 * be dropped silently, so the station then walks the attribute names (never
 * decoding a value) and refuses: a blank, control, non-ASCII or '#' byte
 * anywhere, an empty attribute (";;", "&&") or a dangling separator, a name
 * not in hsm_uri_names (x-* vendor names excepted), a name in the wrong part,
 * a name given twice, an empty value, and %00 in a value kept as text.
 * A URI is at most HSM_URI_MAX bytes.
 */

#define HSM_URI_MAX 4096

enum hsm_uri_part { HSM_URI_PATH, HSM_URI_QUERY };

/* The attributes the station accepts and the part each belongs to; TEXT marks
 * a value kept as a C string (so %00 is refused in it). Row 0 is token. */
static const struct hsm_uri_name {
  const char *name;
  enum hsm_uri_part part;
  int text;
} hsm_uri_names[] = {
  {"token", HSM_URI_PATH, 1},
  {"object", HSM_URI_PATH, 1},
  {"id", HSM_URI_PATH, 0},
  {"type", HSM_URI_PATH, 0},
  {"manufacturer", HSM_URI_PATH, 0},
  {"model", HSM_URI_PATH, 0},
  {"serial", HSM_URI_PATH, 0},
  {"slot-manufacturer", HSM_URI_PATH, 0},
  {"slot-description", HSM_URI_PATH, 0},
  {"slot-id", HSM_URI_PATH, 0},
  {"library-manufacturer", HSM_URI_PATH, 0},
  {"library-description", HSM_URI_PATH, 0},
  {"library-version", HSM_URI_PATH, 0},
  {"module-path", HSM_URI_QUERY, 1},
  {"pin-source", HSM_URI_QUERY, 1},
};
#define HSM_URI_NNAMES (sizeof hsm_uri_names / sizeof hsm_uri_names[0])
#define HSM_URI_TOKEN_ROW 0

/* The station's sentence for a URI p11_kit_uri_parse refused with RC, and
 * p11-kit's own words after it. Returns ST_E_USAGE, or ST_E_NO_MEMORY. */
static int hsm_uri_refusal(int rc, struct st_detail *detail)
{
  const char *why;

  switch (rc) {
  case P11_KIT_URI_UNEXPECTED:
    return ST_E_NO_MEMORY;
  case P11_KIT_URI_BAD_SCHEME:
    why = "must begin with \"pkcs11:\"";
    break;
  case P11_KIT_URI_BAD_ENCODING:
    why = "bad %-escape (a % must be followed by two hex digits)";
    break;
  case P11_KIT_URI_BAD_SYNTAX:
    why = "an attribute is not of the form name=value (or slot-id is not a number)";
    break;
  case P11_KIT_URI_BAD_VERSION:
    why = "library-version is not of the form MAJOR.MINOR";
    break;
  default:
    why = "not understood";
    break;
  }
  st_detail_set(detail, "PKCS#11 URI: %s (p11-kit: %s)", why, p11_kit_uri_message(rc));
  return ST_E_USAGE;
}

/* Refuses the first byte of URI that RFC 7512 wants %-escaped and p11-kit
 * would skip or keep: a blank, a control or non-ASCII byte, a '#'. */
static int hsm_uri_check_bytes(const char *uri, struct st_detail *detail)
{
  for (size_t i = 0; uri[i] != '\0'; i++) {
    unsigned char c = (unsigned char)uri[i];
    if (c <= 0x20 || c >= 0x7f || c == '#') {
      st_detail_set(detail, "PKCS#11 URI: byte 0x%02x at offset %zu is a character that must be "
                    "%%-escaped", c, i);
      return ST_E_USAGE;
    }
  }
  return 0;
}

/* Checks one attribute SEG (N bytes, "name=value", already accepted by
 * p11-kit) met in PART, marking its row in SEEN. Returns 0 or ST_E_USAGE. */
static int hsm_uri_check_attribute(const char *seg, size_t n, enum hsm_uri_part part,
                                   unsigned char *seen, struct st_detail *detail)
{
  const char *eq = memchr(seg, '=', n);
  const char *value;
  size_t name_len, value_len, row;

  if (eq == NULL) { /* p11-kit refuses this first */
    st_detail_set(detail, "PKCS#11 URI: an attribute is not of the form name=value");
    return ST_E_USAGE;
  }
  name_len = (size_t)(eq - seg);
  value = eq + 1;
  value_len = n - name_len - 1;
  for (row = 0; row < HSM_URI_NNAMES; row++) {
    if (strlen(hsm_uri_names[row].name) == name_len
        && memcmp(hsm_uri_names[row].name, seg, name_len) == 0)
      break;
  }
  if (row == HSM_URI_NNAMES) {
    if (name_len > 2 && memcmp(seg, "x-", 2) == 0)
      return 0; /* a vendor attribute: not the station's */
    st_detail_set(detail, "PKCS#11 URI: unknown attribute %.*s", (int)(name_len < 40 ? name_len : 40),
                  seg);
    return ST_E_USAGE;
  }
  if (hsm_uri_names[row].part != part) {
    st_detail_set(detail, "PKCS#11 URI: %s belongs in the %s", hsm_uri_names[row].name,
                  hsm_uri_names[row].part == HSM_URI_PATH ? "path (before '?', separated by ';')"
                                                         : "query (after '?', separated by '&')");
    return ST_E_USAGE;
  }
  if (seen[row]) {
    st_detail_set(detail, "PKCS#11 URI: attribute %s appears twice", hsm_uri_names[row].name);
    return ST_E_USAGE;
  }
  seen[row] = 1;
  if (value_len == 0) {
    st_detail_set(detail, "PKCS#11 URI: attribute %s is empty", hsm_uri_names[row].name);
    return ST_E_USAGE;
  }
  /* p11-kit has checked the escapes: every '%' starts one */
  for (size_t i = 0; hsm_uri_names[row].text && i + 2 < value_len; i++) {
    if (value[i] == '%' && value[i + 1] == '0' && value[i + 2] == '0') {
      st_detail_set(detail, "PKCS#11 URI: the value of %s holds a NUL byte (%%00)",
                    hsm_uri_names[row].name);
      return ST_E_USAGE;
    }
  }
  return 0;
}

/* Checks the attributes of one part of the URI: the LEN bytes at S, separated
 * by ';' in the path and '&' in the query. An empty part holds none. */
static int hsm_uri_check_part(const char *s, size_t len, enum hsm_uri_part part,
                              unsigned char *seen, struct st_detail *detail)
{
  const char sep = part == HSM_URI_PATH ? ';' : '&';
  const char *end = s + len;

  while (s < end) {
    const char *stop = memchr(s, sep, (size_t)(end - s));
    int r;
    if (stop == NULL)
      stop = end;
    if (stop == s) {
      st_detail_set(detail, "PKCS#11 URI: empty attribute (doubled '%c')", sep);
      return ST_E_USAGE;
    }
    r = hsm_uri_check_attribute(s, (size_t)(stop - s), part, seen, detail);
    if (r != 0)
      return r;
    if (stop + 1 == end) {
      st_detail_set(detail, "PKCS#11 URI: ends with a dangling '%c'", sep);
      return ST_E_USAGE;
    }
    s = stop + 1;
  }
  return 0;
}

/* Copies what the station keeps from the parsed URI P into OUT. SEEN says
 * which attributes the URI gave. Returns 0, ST_E_USAGE or ST_E_NO_MEMORY. */
static int hsm_uri_keep(P11KitUri *p, const unsigned char *seen, struct hsm_uri *out,
                        struct st_detail *detail)
{
  CK_TOKEN_INFO *ti = p11_kit_uri_get_token_info(p);
  CK_ATTRIBUTE *label = p11_kit_uri_get_attribute(p, CKA_LABEL);
  const char *module_path = p11_kit_uri_get_module_path(p);
  const char *pin_source = p11_kit_uri_get_pin_source(p);

  if (seen[HSM_URI_TOKEN_ROW]) {
    char token[sizeof ti->label + 1];
    /* p11-kit leaves the label unset (first byte 0) when it does not fit */
    if (ti->label[0] == 0) {
      st_detail_set(detail, "PKCS#11 URI: token is longer than the %zu bytes of a token label",
                    sizeof ti->label);
      return ST_E_USAGE;
    }
    hsm_copy_padded(token, sizeof token, ti->label, sizeof ti->label);
    if ((out->token = strdup(token)) == NULL)
      return ST_E_NO_MEMORY;
  }
  if (label != NULL && (out->object = strndup(label->pValue, label->ulValueLen)) == NULL)
    return ST_E_NO_MEMORY;
  if (module_path != NULL && (out->module_path = strdup(module_path)) == NULL)
    return ST_E_NO_MEMORY;
  if (pin_source != NULL && (out->pin_source = strdup(pin_source)) == NULL)
    return ST_E_NO_MEMORY;
  return 0;
}

int hsm_uri_parse(const char *uri, struct hsm_uri *out, struct st_detail *detail)
{
  int r = ST_E_USAGE;
  P11KitUri *p = NULL;
  unsigned char seen[HSM_URI_NNAMES] = {0};
  char *pin;
  const char *path, *query;
  int rc;

  if (out == NULL)
    return ST_E_USAGE;
  memset(out, 0, sizeof *out);
  if (uri == NULL) {
    st_detail_set(detail, "PKCS#11 URI: none given");
    return ST_E_USAGE;
  }
  if (strnlen(uri, HSM_URI_MAX + 1) > HSM_URI_MAX) {
    st_detail_set(detail, "PKCS#11 URI: longer than %d bytes", HSM_URI_MAX);
    return ST_E_USAGE;
  }
  if ((p = p11_kit_uri_new()) == NULL)
    return ST_E_NO_MEMORY;
  rc = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_ANY, p);
  if (rc != P11_KIT_URI_OK) {
    r = hsm_uri_refusal(rc, detail);
    goto out;
  }
  /* p11-kit keeps its decoded copy of the PIN until p11_kit_uri_free: wiped first */
  if ((pin = (char *)p11_kit_uri_get_pin_value(p)) != NULL) {
    OPENSSL_cleanse(pin, strlen(pin));
    st_detail_set(detail, "PKCS#11 URI: pin-value is refused: a PIN never goes on the command "
                  "line; use pin-source=FILE or pin-source=env:NAME");
    goto out;
  }
  if (p11_kit_uri_get_module_name(p) != NULL) {
    st_detail_set(detail, "PKCS#11 URI: module-name is not supported; give module-path");
    goto out;
  }
  if ((r = hsm_uri_check_bytes(uri, detail)) != 0)
    goto out;
  path = strchr(uri, ':') + 1; /* p11-kit found the scheme */
  query = strchr(path, '?');
  r = hsm_uri_check_part(path, query != NULL ? (size_t)(query - path) : strlen(path),
                         HSM_URI_PATH, seen, detail);
  if (r == 0 && query != NULL)
    r = hsm_uri_check_part(query + 1, strlen(query + 1), HSM_URI_QUERY, seen, detail);
  if (r == 0)
    r = hsm_uri_keep(p, seen, out, detail);
out:
  p11_kit_uri_free(p);
  if (r != 0)
    hsm_uri_cleanup(out);
  return r;
}

void hsm_uri_cleanup(struct hsm_uri *out)
{
  if (out == NULL)
    return;
  free(out->token);
  free(out->object);
  free(out->module_path);
  free(out->pin_source);
  memset(out, 0, sizeof *out);
}
