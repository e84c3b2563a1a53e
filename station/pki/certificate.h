/*
 * certificate.h - building the two certificates of the station's profile
 * (docs/certificate-profile.md):
 *
 * The device certificate, issued by the local CA:
 *   version 3; serial: 16 random octets, positive, never used before;
 *   issuer: the local CA's subject, as bytes; subject: the CSR's, as bytes;
 *   validity: from 5 minutes ago (clock skew) for validity_days, never past
 *   the CA's notAfter; key: the CSR's SubjectPublicKeyInfo, as bytes;
 *   extensions: keyUsage critical digitalSignature; extendedKeyUsage critical
 *   clientAuth; authorityKeyIdentifier = the CA certificate's SKI octets
 *   (copied, never recomputed); subjectKeyIdentifier = SHA-1 of the key
 *   (RFC 5280 4.2.1.2 method 1). Nothing the CSR asks for is copied.
 *   Signature ecdsa-with-SHA256, verified with the CA's public key before the
 *   certificate is handed back.
 *
 * The local CA certificate, issued by the factory root (`station ca certify`):
 *   as above but basicConstraints critical CA:TRUE, pathlen:0; keyUsage critical
 *   keyCertSign; SKI of its key; AKI = the root's SKI when it has one;
 *   validity from now for the given days, capped at the root's notAfter.
 */
#ifndef STATION_CERTIFICATE_H
#define STATION_CERTIFICATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/x509.h>

struct st_detail;
struct csr;

#define CERT_SERIAL_BYTES 16

/* Fills SERIAL with CERT_SERIAL_BYTES random octets whose first octet is in
 * 0x01..0x7f (positive, full length). Returns 0 or ST_E_CRYPTO. */
int cert_random_serial(uint8_t serial[CERT_SERIAL_BYTES]);

/* Builds and signs a device certificate for REQ (already checked by policy)
 * with the local CA CA_CERT and its signing key SIGNER (in the HSM), valid from
 * NOW for DAYS, with SERIAL. Verifies the signature with CA_PUBLIC (the CA
 * certificate's key) before returning; when CA_PUBLIC is NULL the caller
 * must make that check itself before the certificate is released (the engine
 * does it on its worker pool). Returns 0 and *OUT, ST_E_SIGN_VERIFY
 * when the signature does not verify, ST_E_HSM when signing failed,
 * ST_E_CA_CERT when the CA is expired at NOW, ST_E_CRYPTO otherwise.
 * Written by device_cert.h (the engine calls that directly, to sign on its
 * own threads); this wrapper is for the ceremony's tests and tools. */
int cert_issue_device(const struct csr *req, X509 *ca_cert, EVP_PKEY *signer, EVP_PKEY *ca_public,
                      const uint8_t serial[CERT_SERIAL_BYTES], unsigned days, time_t now,
                      X509 **out, struct st_detail *detail);

/* Builds and signs a local CA certificate for REQ with the factory root
 * ROOT_CERT/ROOT_KEY, valid from NOW for DAYS (capped at the root's notAfter).
 * Verifies it with the root's public key. Returns 0 and *OUT, or an error. */
int cert_issue_local_ca(const struct csr *req, X509 *root_cert, EVP_PKEY *root_key, unsigned days,
                        time_t now, X509 **out, struct st_detail *detail);

/* Checks that CA fits the local-CA profile: X.509 v3, basicConstraints
 * CA:TRUE (critical), keyUsage with keyCertSign, an SKI, an EC P-256 key, and
 * valid at NOW. Returns 0, or ST_E_CA_CERT with DETAIL naming the first misfit. */
int cert_check_local_ca(X509 *ca, time_t now, struct st_detail *detail);

/* Checks that CA chains to ROOT (X509_verify_cert with ROOT as the only trust
 * anchor, at NOW). Returns 0, or ST_E_CA_CERT with the verifier's reason. */
int cert_check_chain(X509 *ca, X509 *root, time_t now, struct st_detail *detail);

/* Verifies CERT with ROOT as the only trust anchor, at NOW, with the
 * X509_V_FLAG_* bits FLAGS. Returns 0; ST_E_NO_MEMORY; or 1 when CERT does not
 * verify, with *WHY set to the verifier's sentence (static storage). */
int cert_verify_to_root(X509 *cert, X509 *root, time_t now, unsigned long flags, const char **why);

/* Reads exactly one PEM certificate from PATH. Returns 0 and *OUT, or
 * ST_E_CA_CERT naming the path and the problem. */
int cert_load_pem(const char *path, X509 **out, struct st_detail *detail);

/* Writes the one-line subject of CERT ("CN=fio-1, OU=acme") into BUF. */
void cert_subject_line(X509 *cert, char *buf, size_t cap);

#endif
