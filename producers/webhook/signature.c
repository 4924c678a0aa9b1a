/* signature.c: carrot-webhook's trust: the client secret and each request's signature. */
#include "carrot/adapter.h"
#include "carrot/timeutil.h"
#include "webhook.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int webhook_verify(const webhook_t *w, struct MHD_Connection *c, const char *method,
                   const char *target, const char *body, size_t len, char *errstr,
                   size_t errstr_size) {
    /* the signed URI is the full URL as HubSpot called it: the raw request
     * target (still percent-encoded, with its query) after public-url */
    size_t ulen = strlen(w->cf->public_url) + strlen(target) + 1;
    char *uri = malloc(ulen);
    if (!uri) return -1;
    snprintf(uri, ulen, "%s%s", w->cf->public_url, target);
    const char *ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-HubSpot-Request-Timestamp");
    const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-HubSpot-Signature-v3");
    int bad = carrot_hubspot_verify(w->cf->secret, method, uri, body, len, ts, sig,
                                    carrot_time_now_ms(), errstr, errstr_size);
    free(uri);
    return bad ? 1 : 0;
}

char *webhook_read_secret_file(const char *path, char *errstr, size_t errstr_size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(errstr, errstr_size, "could not open secret file \"%s\": %s", path,
                 strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO))) {
        snprintf(errstr, errstr_size,
                 S_ISREG(st.st_mode) ? "secret file \"%s\" is readable by group or others "
                                       "(mode %04o): chmod 600 it"
                                     : "secret file \"%s\" is not a regular file (mode %04o)",
                 path, (unsigned)(st.st_mode & 07777));
        close(fd);
        return NULL;
    }
    char buf[4097];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    if (len > 0 && buf[len - 1] == '\n') len--;
    buf[len] = '\0';
    char *secret = NULL;
    if (len == sizeof(buf) - 2 || strlen(buf) != len)
        snprintf(errstr, errstr_size, "secret file \"%s\" holds more than a secret", path);
    else if (len == 0)
        snprintf(errstr, errstr_size, "secret file \"%s\" is empty", path);
    else if (!(secret = strdup(buf)))
        snprintf(errstr, errstr_size, "out of memory");
    explicit_bzero(buf, sizeof(buf));
    return secret;
}
