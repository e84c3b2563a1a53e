/*
 * policy.h - what a device CSR must be before the station signs it.
 *
 * The checks, in order (the first failure is the refusal):
 *   1. the key is EC on the named curve P-256 (prime256v1), not explicit parameters;
 *   2. the CSR is signed with ecdsa-with-SHA256;
 *   3. that signature verifies with the CSR's own key (before anything about
 *      the subject is believed);
 *   4. the subject holds exactly one CN, a UUID (8-4-4-4-12 hex digits, either case);
 *   5. the subject holds exactly one OU, equal to the station's factory;
 *   6. the subject holds nothing else but, at most once, businessCategory=production;
 *   7. that production marker is absent when the profile forbids it and present
 *      when the profile requires it.
 * Identity rules that need the journal (one key per device, one device per key)
 * are the engine's (engine.c). Extensions the CSR requests are never looked at
 * nor copied.
 */
#ifndef STATION_POLICY_H
#define STATION_POLICY_H

#include <stddef.h>
#include <stdint.h>

struct csr;
struct st_detail;

enum policy_production { POLICY_PRODUCTION_FORBID, POLICY_PRODUCTION_ALLOW, POLICY_PRODUCTION_REQUIRE };

struct policy {
  const char *factory;                 /* the OU every device must carry; borrowed */
  enum policy_production production;
};

/* What the checks learned about an acceptable CSR. */
struct policy_identity {
  char device_id[37];                  /* the CN's UUID in lower case */
  int production;                      /* 1 when businessCategory=production is present */
};

/* Runs checks 1-7 on C. Returns 0 and fills *ID, or the refusal code
 * (ST_E_CSR_SIGNATURE, ST_E_KEY_TYPE, ST_E_SIGNATURE_ALGORITHM,
 * ST_E_COMMON_NAME, ST_E_FACTORY, ST_E_SUBJECT_ATTRIBUTE,
 * ST_E_PRODUCTION_FORBIDDEN, ST_E_PRODUCTION_REQUIRED) with DETAIL saying
 * what was found. */
int policy_check(const struct policy *p, const struct csr *c, struct policy_identity *id,
                 struct st_detail *detail);

/* Runs checks 1-3 only (P-256 named-curve key, ecdsa-with-SHA256, signature):
 * the checks any CSR the station signs must pass, device or local CA.
 * Returns 0 or the refusal code with DETAIL. */
int policy_check_crypto(const struct csr *c, struct st_detail *detail);

/* The device id a CSR claims, whether or not it passes the checks: when C's
 * subject holds exactly one CN and that CN is a UUID, writes it in lower case
 * into OUT and returns 1; else writes "" and returns 0. For refusal records,
 * which keep the device id the CSR named. */
int policy_device_id(const struct csr *c, char out[37]);

/* 1 when TEXT (LEN bytes) is a UUID in 8-4-4-4-12 hex form, either case. */
int policy_is_uuid(const char *text, size_t len);

#endif
