/*
 * hsm.h - the station's only door to a PKCS#11 token.
 *
 * Two PKCS#11 paths into one loaded module, each doing what the other cannot:
 *   - libp11 0.4.12 (hsm.c) loads the module, finds the token by label, logs
 *     in once and keeps that logged-in session pool for the life of the
 *     handle (the station never opens a session per certificate). Its keys
 *     are OpenSSL EVP_PKEYs whose private operations run inside the token:
 *     every certificate is signed through them.
 *   - The module's own function list (hsm_pkcs11.c, hsm_data.c) for what
 *     libp11 0.4.12 has no call for: EC key-pair generation inside the token,
 *     data objects, CKA_SENSITIVE / CKA_EXTRACTABLE, fresh token flags, the
 *     token's presence, a login that repairs libp11's dead session pool.
 * Why two paths: libp11 0.4.12 keeps its CK_FUNCTION_LIST private (PKCS11_CTX
 * gives no access to it), so the raw calls need the list from the module
 * itself, and dropping libp11 would mean writing an OpenSSL provider that
 * signs through the token. hsm_pkcs11.c gets the list by dlopen() of the path
 * libp11 loaded: the same file name resolves to the same loaded instance,
 * already initialised (CKR_CRYPTOKI_ALREADY_INITIALIZED is success) and
 * finalised by libp11 alone. p11-kit's p11_kit_module_load is not used for
 * this: it looks a bare module name up in p11-kit's module directory, not on
 * the dynamic linker's path as libp11 does, so it can reach another file
 * than the one libp11 loaded (hsm.module may be a bare name).
 * PKCS#11 URIs are read with p11-kit's parser (hsm_uri_parse, in hsm.c).
 * No PKCS#11, libp11 or p11-kit type leaves this directory.
 *
 * Errors name what failed: the module path, the token label (and the labels
 * that were found), the key label, a refused PIN (the PIN itself is never
 * printed or logged; libp11 itself keeps a copy inside its slot state, for
 * logging in again after fork(), until hsm_close).
 *
 * Thread safety: one struct hsm may be used from several threads for signing
 * through hsm_key_signer(); open/login/find/generate are for one thread.
 */
#ifndef STATION_HSM_H
#define STATION_HSM_H

#include <stddef.h>
#include <openssl/evp.h>

struct st_detail;
struct hsm;       /* a loaded module and one token on it */
struct hsm_key;   /* a private key object on that token */

struct hsm_token_info {
  char label[33];          /* blank-padded label, trimmed */
  char manufacturer[33];
  char model[17];
  char serial[17];
  int logged_in;           /* 1 when the user is logged in */
  int pin_count_low;       /* token says a wrong PIN was entered */
  int pin_final_try;       /* one more wrong PIN locks it */
  int pin_locked;
};

struct hsm_key_info {
  char label[65];
  int is_ec_p256;          /* 1 for an EC key on prime256v1 */
  int sensitive;           /* CKA_SENSITIVE: 1, 0, or -1 when unknown */
  int extractable;         /* CKA_EXTRACTABLE: 1, 0, or -1 when unknown */
  int always_sensitive;    /* CKA_ALWAYS_SENSITIVE: 1, 0, -1 */
  int never_extractable;   /* CKA_NEVER_EXTRACTABLE: 1, 0, -1 */
};

/* Loads the PKCS#11 module at MODULE_PATH and finds the token labelled
 * TOKEN_LABEL (with a token present). Does not log in.
 * Returns 0 and *OUT, or ST_E_HSM_MODULE (module path in DETAIL),
 * ST_E_HSM_TOKEN (label wanted and labels seen in DETAIL). */
int hsm_open(const char *module_path, const char *token_label, struct hsm **out,
             struct st_detail *detail);

/* Logs the user in with PIN (NUL-terminated; the caller wipes it afterwards).
 * Already logged in is success (the token is asked when libp11 believes it
 * is: after a token was pulled out and put back, libp11 may be wrong). Never
 * retries: a wrong PIN is one attempt.
 * Returns 0, ST_E_HSM_PIN (wrong PIN; DETAIL says whether the token reports a
 * low count or a final try), ST_E_HSM_PIN_LOCKED, or ST_E_HSM. */
int hsm_login(struct hsm *h, const char *pin, struct st_detail *detail);

/* Logs out (the console's lock). Keys found before stay valid handles but
 * cannot sign until hsm_login succeeds again. Returns 0 or ST_E_HSM. */
int hsm_logout(struct hsm *h);

/* Logs in again with PIN after the token failed, whatever became of it:
 *   - the token is not in its slot (pulled out): returns ST_E_HSM at once,
 *     DETAIL saying so, and touches nothing else;
 *   - its sessions are alive (a fault of one call): logs out and in again;
 *   - its sessions died (the token was pulled out and put back, or they were
 *     closed behind the station's back): drops every session of the slot,
 *     opens new ones and logs in.
 * One C_Login attempt at most. Then every live key gets a fresh signer, as
 * after hsm_login. Returns 0 or the codes of hsm_login. May block as long as
 * the token takes to answer (a token that hangs in C_Login hangs here, and so
 * may libp11 0.4.12 when the token vanishes while it opens a session): call it
 * where a watchdog can give up on it. */
int hsm_relogin(struct hsm *h, const char *pin, struct st_detail *detail);

/* Fills INFO from the token (fresh from the module each call). Returns 0 or ST_E_HSM. */
int hsm_token_info(struct hsm *h, struct hsm_token_info *info);

/* Finds the one private key labelled LABEL (login needed first).
 * Returns 0 and *OUT (free with hsm_key_free), ST_E_HSM_KEY when there is no
 * such key or more than one (DETAIL says which), ST_E_HSM otherwise. */
int hsm_find_key(struct hsm *h, const char *label, struct hsm_key **out,
                 struct st_detail *detail);

/* The key's signing handle: an EVP_PKEY whose private-key operations run in the
 * token (use with X509_sign, X509_REQ_sign, EVP_DigestSign). Borrowed: valid
 * until hsm_key_free. Never NULL for a key hsm_find_key returned. */
EVP_PKEY *hsm_key_signer(struct hsm_key *k);

/* The key's public half as a plain software EVP_PKEY, read from the token
 * (the matching public-key object, or the private key's CKA_EC_POINT).
 * Returns a new reference (caller frees) or NULL when the token has none. */
EVP_PKEY *hsm_key_public(struct hsm_key *k);

/* Reads the key's attributes into INFO. Returns 0 or ST_E_HSM. */
int hsm_key_info(struct hsm_key *k, struct hsm_key_info *info);

/* Generates an EC P-256 key pair inside the token: private key sensitive,
 * never extractable, token object, signing only; public key a token object;
 * both labelled LABEL with one fresh random CKA_ID. Refuses with ST_E_EXISTS
 * when any key object labelled LABEL is already there (a key is never
 * overwritten). Returns 0 and the new private key in *OUT, or an error. */
int hsm_generate_ec_p256(struct hsm *h, const char *label, struct hsm_key **out,
                         struct st_detail *detail);

/* Finds the private key labelled LABEL; when there is no key by that label,
 * generates one as hsm_generate_ec_p256 does (EC P-256, sensitive, never
 * extractable, sign only). For the journal-signing key, made on first use.
 * *CREATED (may be NULL) is 1 when the key was made now. Returns 0 and *OUT,
 * or the errors of hsm_find_key (two keys under LABEL stay ST_E_HSM_KEY) and
 * hsm_generate_ec_p256. Login needed first. */
int hsm_find_or_create_key(struct hsm *h, const char *label, struct hsm_key **out, int *created,
                           struct st_detail *detail);

/* Data objects: small values kept inside the token (CKO_DATA, a private,
 * modifiable token object with CKA_APPLICATION "station" and CKA_LABEL
 * LABEL, 1 to 128 bytes). Login needed first: private objects are invisible
 * and unchangeable without it.
 *
 * hsm_data_read copies the value of the object labelled LABEL into BUF (CAP
 * bytes) and its length into *LEN. Returns 1 when found, 0 when there is no
 * such object (*LEN = 0), or ST_E_HSM (two objects with the label, a value
 * over CAP bytes, a token failure; DETAIL says which), ST_E_USAGE. */
int hsm_data_read(struct hsm *h, const char *label, void *buf, size_t cap, size_t *len,
                  struct st_detail *detail);

/* Sets the value of the object labelled LABEL to LEN bytes of DATA, creating
 * the object when it is missing. The token writes it before returning (for
 * SoftHSM: its object file). Returns 0, ST_E_HSM (DETAIL names the CKR_ code)
 * or ST_E_USAGE. */
int hsm_data_write(struct hsm *h, const char *label, const void *data, size_t len,
                   struct st_detail *detail);

/* Frees K; NULL is fine. */
void hsm_key_free(struct hsm_key *k);

/* Logs nothing out, closes sessions, unloads the module; NULL is fine.
 * Every hsm_key of H must be freed first. */
void hsm_close(struct hsm *h);

/*
 * A PKCS#11 URI (RFC 7512) naming a private key, as `station ca certify
 * --root-key pkcs11:...` takes it, read by p11-kit's parser. Kept: token and
 * object in the path, module-path and pin-source (a file path, or env:NAME)
 * in the query. Accepted and ignored: id, type, manufacturer, model, serial,
 * slot-*, library-* in the path and x-* anywhere. Refused, with a sentence
 * naming the attribute: pin-value (a PIN never goes in argv), module-name,
 * an unknown, misplaced, doubled or empty attribute, a byte that must be
 * %-escaped, a bad %-escape, %00 in a kept value, a URI over 4096 bytes.
 */
struct hsm_uri {
  char *token;        /* NULL when absent */
  char *object;       /* NULL when absent */
  char *module_path;  /* NULL when absent */
  char *pin_source;   /* NULL when absent */
};

/* Parses URI into OUT (strings owned by OUT, free with hsm_uri_cleanup).
 * Returns 0, or ST_E_USAGE with DETAIL saying what is wrong. */
int hsm_uri_parse(const char *uri, struct hsm_uri *out, struct st_detail *detail);

/* Frees what OUT owns and zeroes it; NULL is fine. */
void hsm_uri_cleanup(struct hsm_uri *out);

#endif
