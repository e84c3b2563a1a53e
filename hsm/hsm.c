/*
 * hsm.c - the token through libp11 0.4.12 (see hsm.h).
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

#include <openssl/err.h>
#include <openssl/x509.h>

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
  int r = ST_E_HSM_TOKEN;
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
    goto out;
  }
  if (matches > 1) {
    h->slot = NULL;
    st_detail_set(detail, "%u tokens labelled \"%s\" in %s; the station needs exactly one",
                  matches, want, h->module_path);
    goto out;
  }
  r = 0;
out:
  return r;
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
  int r = -1;
  PKCS11_KEY *keys = NULL;
  unsigned int nkeys = 0;

  *match = NULL;
  *matches = 0;
  if (PKCS11_enumerate_keys(h->slot->token, &keys, &nkeys) != 0)
    goto out;
  for (unsigned int i = 0; i < nkeys; i++) {
    if (keys[i].label != NULL && strcmp(keys[i].label, label) == 0
        && (id_len == 0 || (keys[i].id_len == id_len && memcmp(keys[i].id, id, id_len) == 0))) {
      (*matches)++;
      *match = &keys[i];
    }
  }
  r = 0;
out:
  return r;
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
  int r = ST_E_HSM;
  int logged_in = 0;
  struct hsm_token_info ti;

  if (h == NULL || pin == NULL) {
    r = ST_E_USAGE;
    st_detail_set(detail, "hsm_login needs a handle and a PIN");
    goto out;
  }
  if (PKCS11_is_logged_in(h->slot, 0, &logged_in) == 0 && logged_in) {
    /* libp11 answers from its own bookkeeping: ask the token */
    memset(&ti, 0, sizeof ti);
    r = hsm_p11_token_info(h->p11, &ti) == 0 && !ti.logged_in ? hsm_login_behind_libp11(h, pin, detail) : 0;
    goto out;
  }
  ERR_clear_error();
  if (PKCS11_login(h->slot, 0, pin) == 0) {
    hsm_refresh_keys(h);
    r = 0;
    goto out;
  }
  r = hsm_login_failed(h, hsm_take_ckr(), detail);
out:
  return r;
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
  int r = ST_E_HSM;
  int logged_in = 0;
  char name[48];

  if (h == NULL || pin == NULL) {
    r = ST_E_USAGE;
    st_detail_set(detail, "hsm_relogin needs a handle and a PIN");
    goto out;
  }
  if (hsm_p11_token_present(h->p11) == 0) {
    /* before libp11 is asked anything: with no token, 0.4.12 may wait for
     * ever for a session it cannot open */
    st_detail_set(detail, "token %s is not in its slot: it was pulled out (plug it back in)", h->token_label);
    goto out;
  }
  ERR_clear_error();
  if (PKCS11_is_logged_in(h->slot, 0, &logged_in) == 0 && logged_in && PKCS11_logout(h->slot) == 0) {
    r = hsm_login(h, pin, detail); /* the sessions are alive */
    goto out;
  }
  hsm_ckr_text(hsm_take_ckr(), name, sizeof name);
  st_info("hsm: the sessions on token %s are gone (%s); opening new ones", h->token_label,
          logged_in ? name : "not logged in");
  r = hsm_relogin_fresh(h, pin, detail);
out:
  return r;
}

int hsm_logout(struct hsm *h)
{
  int r = ST_E_HSM;
  int logged_in = 1;

  if (h == NULL)
    goto out;
  if (PKCS11_is_logged_in(h->slot, 0, &logged_in) == 0 && !logged_in) {
    r = 0;
    goto out;
  }
  if (PKCS11_logout(h->slot) != 0) {
    char name[48];
    hsm_ckr_text(hsm_take_ckr(), name, sizeof name);
    st_warn("hsm: C_Logout on token %s: %s", h->token_label, name);
    goto out;
  }
  r = 0;
out:
  return r;
}

int hsm_token_info(struct hsm *h, struct hsm_token_info *info)
{
  int r = ST_E_HSM;
  if (h == NULL || info == NULL)
    goto out;
  memset(info, 0, sizeof *info);
  r = hsm_p11_token_info(h->p11, info);
out:
  return r;
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
