/* sign.c: the generic webhook's signature, X-Carrot-Signature: "v1=" and
 * HMAC-SHA256 of "<X-Carrot-Timestamp>.<body>" (OpenSSL's HMAC), and the
 * check a receiver makes, which the tests use as the documented example. */
#include "carrot/notify.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int carrot_notify_sign(const char *secret, size_t secret_len, int64_t timestamp, const char *body,
                       size_t body_len, char *out, size_t out_size) {
    if (out_size < 68) return -1;
    char ts[24];
    int tl = snprintf(ts, sizeof(ts), "%" PRId64 ".", timestamp);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char *msg = malloc((size_t)tl + body_len + 1);
    if (!msg) return -1;
    memcpy(msg, ts, (size_t)tl);
    memcpy(msg + tl, body, body_len);
    int ok = HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)msg,
                  (size_t)tl + body_len, mac, &maclen) != NULL &&
             maclen == 32;
    free(msg);
    if (!ok) return -1;
    memcpy(out, "v1=", 3);
    for (unsigned i = 0; i < maclen; i++) snprintf(out + 3 + 2 * i, 3, "%02x", mac[i]);
    return 0;
}

int carrot_notify_verify(const char *secret, size_t secret_len, const char *timestamp,
                         const char *signature, const char *body, size_t body_len, int64_t now_s,
                         int64_t tolerance_s) {
    if (!timestamp || !signature || !*timestamp || strlen(timestamp) > 18) return 0;
    char *end;
    long long ts = strtoll(timestamp, &end, 10);
    if (*end || ts <= 0) return 0;
    if (ts > now_s + tolerance_s || ts < now_s - tolerance_s) return 0; /* a replay, or a skew */
    char want[68];
    if (carrot_notify_sign(secret, secret_len, ts, body, body_len, want, sizeof(want))) return 0;
    if (strlen(signature) != strlen(want)) return 0;
    return CRYPTO_memcmp(want, signature, strlen(want)) == 0;
}
