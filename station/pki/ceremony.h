/*
 * ceremony.h - the key ceremony of the local CA, and the health report.
 *
 *   ceremony_init     generates the local CA key pair inside the token (EC P-256,
 *                     sensitive, never extractable) and writes its CSR:
 *                     CN=fio-<user id>, OU=<factory>, asking for the local-CA
 *                     profile (basicConstraints CA:TRUE pathlen:0, keyUsage
 *                     keyCertSign; the signer applies its own profile anyway).
 *   ceremony_certify  signs such a CSR with a factory root the factory holds
 *                     (a key file, or a key in a PKCS#11 token named by URI),
 *                     producing exactly the local-CA profile (certificate.h).
 *   ceremony_show     prints token, key, CA certificate, chain and profile status,
 *                     the kind of token (a software token says what it does
 *                     not protect against) and the journal key's fingerprint.
 */
#ifndef STATION_CEREMONY_H
#define STATION_CEREMONY_H

#include <stdio.h>

struct station_config;
struct st_detail;

/* Creates the key labelled cfg->hsm_key (refusing, ST_E_EXISTS, when one is
 * there) and writes the CSR for CN (must be "fio-" and 1-60 of [A-Za-z0-9._-])
 * to OUT_PATH (PEM, atomically). PIN logs in. Then, when OUT is not NULL,
 * prints the journal key's fingerprint line to OUT ("journal key:
 * sha256:<hex>", or why there is none yet). Returns 0 or an error. */
int ceremony_init(const struct station_config *cfg, const char *pin, const char *cn, const char *out_path,
                  FILE *out, struct st_detail *detail);

/* What ceremony_certify needs. */
struct ceremony_certify_args {
  const char *csr_path;        /* the local CA CSR */
  const char *root_cert_path;  /* factory root certificate (PEM) */
  const char *root_key;        /* PEM key file, or "pkcs11:..." URI */
  const char *default_module;  /* module for a URI without module-path (may be NULL) */
  const char *factory;         /* when not NULL, the CSR's OU must equal it */
  unsigned days;               /* validity; capped at the root's notAfter */
  const char *out_path;        /* where the certificate goes (PEM, atomically) */
};

/* Checks the CSR (signature, P-256, ecdsa-with-SHA256, one CN "fio-...", one OU)
 * and issues the local CA certificate. Returns 0 or an error with DETAIL. */
int ceremony_certify(const struct ceremony_certify_args *args, struct st_detail *detail);

/* Prints the health report to OUT. PIN logs in (NULL: the token is not opened
 * and its checks are reported as skipped). Returns 0 when healthy, else the
 * first problem's code with DETAIL. */
int ceremony_show(const struct station_config *cfg, const char *pin, FILE *out, struct st_detail *detail);

#endif
