/*
 * device_cert.h - the device certificate written as DER by the station itself.
 *
 * The device profile (docs/certificate-profile.md) leaves nothing open: every
 * field is either fixed, copied as bytes (the issuer's subject, the CSR's
 * subject), rebuilt from the CSR's key point, or computed (serial, validity,
 * SKI). Building it through OpenSSL's X509 objects costs more CPU than the
 * token's signature on a fast token (names duplicated through encode and
 * decode, extensions parsed from text, the whole TBS encoded again to sign
 * and again to verify); here the TBSCertificate is written once, into one
 * buffer, in this order:
 *
 *   SEQUENCE {
 *     [0] EXPLICIT INTEGER 2                          -- version 3
 *     INTEGER serial                                  -- 16 octets, positive
 *     SEQUENCE { OID ecdsa-with-SHA256 }              -- no parameters
 *     issuer   = the CA certificate's subject DER, as bytes
 *     SEQUENCE { notBefore, notAfter }                -- UTCTime before 2050,
 *                                                     -- GeneralizedTime from 2050
 *     subject  = the CSR's subject DER, as bytes
 *     SEQUENCE { SEQUENCE { OID id-ecPublicKey, OID prime256v1 },
 *                BIT STRING (0 unused bits) the CSR's point }
 *     [3] EXPLICIT SEQUENCE {
 *       keyUsage             critical  digitalSignature
 *       extendedKeyUsage     critical  clientAuth
 *       subjectKeyIdentifier           SHA-1 of the point (RFC 5280 4.2.1.2 (1))
 *       authorityKeyIdentifier         [0] the CA certificate's SKI octets } }
 *
 * and the certificate is SEQUENCE { TBS, SEQUENCE { OID ecdsa-with-SHA256 },
 * BIT STRING (0 unused bits) ECDSA-Sig-Value }. The token signs the SHA-256
 * digest of the TBS; the same digest checks the signature with the CA
 * certificate's key before anything is released.
 */
#ifndef STATION_DEVICE_CERT_H
#define STATION_DEVICE_CERT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certificate.h"

struct st_detail;
struct csr;
struct device_issuer; /* the local CA, encoded once for every device certificate */

/* The longest DER ECDSA-Sig-Value on P-256: SEQUENCE of two 33-octet INTEGERs. */
#define DEVICE_SIG_MAX 72

/* A TBSCertificate ready to be signed. */
struct device_tbs {
  uint8_t *der;        /* malloc'd */
  size_t len;
  uint8_t digest[32];  /* SHA-256 of DER: what the token signs */
};

/* Takes from CA_CERT what device certificates copy: its subject's DER, its
 * validity, its SKI octets. Returns 0 and *OUT, ST_E_CA_CERT (no SKI, or an
 * unreadable time) or ST_E_NO_MEMORY. */
int device_issuer_new(X509 *ca_cert, struct device_issuer **out, struct st_detail *detail);

/* Frees CA; NULL is fine. */
void device_issuer_free(struct device_issuer *ca);

/* Writes the TBSCertificate for REQ (already passed by policy: an EC P-256
 * key) with SERIAL, valid from NOW - 5 minutes for DAYS, both ends kept inside
 * the CA's own validity. Returns 0 and *OUT (free OUT->der), ST_E_CA_CERT
 * when the CA is expired or not yet valid at NOW, ST_E_KEY_TYPE when the
 * CSR's key carries no point, ST_E_NO_MEMORY, ST_E_CRYPTO. */
int device_cert_tbs(const struct device_issuer *ca, const struct csr *req,
                    const uint8_t serial[CERT_SERIAL_BYTES], unsigned days, time_t now,
                    struct device_tbs *out, struct st_detail *detail);

/* Signs DIGEST with SIGNER (the CA key in the token): SIG gets the DER
 * ECDSA-Sig-Value. Returns 0, or ST_E_HSM with the token's error in DETAIL. */
int device_cert_sign(EVP_PKEY *signer, const uint8_t digest[32], uint8_t sig[DEVICE_SIG_MAX],
                     size_t *sig_len, struct st_detail *detail);

/* 1 when SIG is a valid signature of DIGEST by CA_PUBLIC, else 0. */
int device_cert_signature_ok(EVP_PKEY *ca_public, const uint8_t digest[32], const uint8_t *sig,
                             size_t sig_len);

/* The certificate: TBS and SIG wrapped together. Returns 0 and *DER (malloc'd)
 * and *DER_LEN, or ST_E_NO_MEMORY. */
int device_cert_assemble(const struct device_tbs *tbs, const uint8_t *sig, size_t sig_len,
                         uint8_t **der, size_t *der_len);

#endif
