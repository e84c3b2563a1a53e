/*
 * hsm_internal.h - what the files of hsm/ share, and nothing outside hsm/ sees.
 *
 * hsm.c drives libp11 (module loading, slots, login, key lookup, the signing
 * EVP_PKEY); hsm_pkcs11.c calls the module's own PKCS#11 function list for
 * what libp11 0.4.12 cannot do (EC key-pair generation, key attributes, fresh
 * token flags); hsm_data.c keeps small data objects on the token and finds
 * or creates the journal-signing key. They all see the handles defined here.
 */
#ifndef STATION_HSM_INTERNAL_H
#define STATION_HSM_INTERNAL_H

#include <stddef.h>

/* p11-kit's pkcs11.h is self-contained (it defines CK_PTR and friends) and
 * gives the standard PKCS#11 names by default. */
#include <p11-kit/pkcs11.h>
#include <libp11.h>

#include "hsm.h"

struct hsm_p11; /* the module's raw function list and our slot (hsm_pkcs11.c) */

struct hsm {
  PKCS11_CTX *ctx;         /* libp11 context */
  int loaded;              /* 1 once PKCS11_CTX_load succeeded */
  PKCS11_SLOT *slots;      /* every slot libp11 enumerated */
  unsigned int nslots;
  PKCS11_SLOT *slot;       /* the slot holding our token; points into slots */
  char *module_path;
  char token_label[33];    /* the label asked for, as found (trimmed) */
  struct hsm_p11 *p11;     /* raw PKCS#11 access to the same module and slot */
  struct hsm_key *keys;    /* the live keys, refreshed after a new login */
};

struct hsm_key {
  struct hsm *h;           /* borrowed: the handle the key was found on */
  char *label;             /* CKA_LABEL */
  unsigned char *id;       /* CKA_ID; NULL when the object has none */
  size_t id_len;
  EVP_PKEY *signer;        /* from PKCS11_get_private_key; owned (one reference) */
  EVP_PKEY **retired;      /* signers replaced after a new login, kept (borrowed
                            * pointers stay valid) until hsm_key_free */
  size_t nretired;
  struct hsm_key *next;    /* in h->keys */
};

/* Binds raw PKCS#11 access to the module at MODULE_PATH (already loaded and
 * initialised by libp11) and to slot SLOT_ID. Returns 0 and *OUT, or
 * ST_E_HSM_MODULE with DETAIL. */
int hsm_p11_open(const char *module_path, unsigned long slot_id, struct hsm_p11 **out,
                 struct st_detail *detail);

/* Drops the raw access (never finalises the module: libp11 does). NULL is fine. */
void hsm_p11_close(struct hsm_p11 *p);

/* Fills INFO fresh from the module: label, manufacturer, model, serial and
 * the user-PIN flags (count low, final try, locked) from C_GetTokenInfo, and
 * logged_in from the state of a new session. Returns 0 or ST_E_HSM. */
int hsm_p11_token_info(struct hsm_p11 *p, struct hsm_token_info *info);

/* 1 when P's slot holds a token, 0 when it does not (pulled out: the slot
 * reports no token, or the slot itself is gone), -1 when the module cannot
 * tell. */
int hsm_p11_token_present(struct hsm_p11 *p);

/* Logs the user in with PIN through a session of our own, closed again
 * before returning: the login belongs to the application, so it holds for
 * the sessions libp11 keeps open. Call it only while libp11 holds one (else
 * closing ours, the last, logs the token out again). Returns the module's
 * CK_RV (CKR_USER_ALREADY_LOGGED_IN counts as CKR_OK). */
CK_RV hsm_p11_login(struct hsm_p11 *p, const char *pin);

/* The public half of K read through PKCS#11: CKA_EC_PARAMS and CKA_EC_POINT
 * of the public-key object with K's label and id, else of the private key
 * itself. A new software EVP_PKEY (caller frees), or NULL when the token has
 * neither (or the key is not EC). */
EVP_PKEY *hsm_p11_public_key(struct hsm_key *k);

/* Opens a session of our own on P's token, read-write when RW. The caller
 * closes it with P's C_CloseSession. */
CK_RV hsm_p11_session(struct hsm_p11 *p, int rw, CK_SESSION_HANDLE *s);

/* Finds up to MAX objects of class CLS labelled LABEL (and, when ID_LEN > 0,
 * with CKA_ID equal to ID) into FOUND; *N says how many. Private objects are
 * only visible to a logged-in session. */
CK_RV hsm_p11_find(struct hsm_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label,
                   const unsigned char *id, size_t id_len, CK_OBJECT_HANDLE *found, CK_ULONG max,
                   CK_ULONG *n);

/* Puts "CALL: CKR_NAME" into DETAIL and returns the station code for RV. */
int hsm_p11_fail(struct st_detail *detail, const char *call, CK_RV rv);

/* The module's function list (hsm_data.c calls it directly). */
CK_FUNCTION_LIST_PTR hsm_p11_functions(struct hsm_p11 *p);

/* Writes the name of PKCS#11 return value RV ("CKR_PIN_INCORRECT", or
 * "CKR 0x..." for one not in the table) into BUF of SIZE bytes. */
void hsm_ckr_text(unsigned long rv, char *buf, size_t size);

/* Copies a blank-padded PKCS#11 text field of LEN bytes into OUT (OUT_SIZE
 * bytes, at least LEN + 1), trimming trailing blanks and NULs. */
void hsm_copy_padded(char *out, size_t out_size, const unsigned char *field, size_t len);

#endif
