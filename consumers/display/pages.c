/* pages.c: the TV, participant, supervisor and adoption pages, compiled in
 * (web/, embedded at build time: no files to install, no CDN: the screens
 * may have no Internet). The adoption page draws its charts with Chart.js,
 * which is not ours to embed: carrot-board reads the system's copy (Debian's
 * libjs-chart.js) once at start and serves it as /static/chart.min.js; with
 * none, the page shows its tables and says what is missing. */
#include "display.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char carrot_web_tv_page[], carrot_web_tv_script[], carrot_web_me_page[],
    carrot_web_me_script[], carrot_web_team_page[], carrot_web_team_script[],
    carrot_web_adoption_page[], carrot_web_adoption_script[], carrot_web_style[];

static const struct {
    const char *path, *type, *body;
} files[] = {
    {"/tv.html", "text/html; charset=utf-8", carrot_web_tv_page},
    {"/me.html", "text/html; charset=utf-8", carrot_web_me_page},
    {"/tv_script.js", "text/javascript; charset=utf-8", carrot_web_tv_script},
    {"/me_script.js", "text/javascript; charset=utf-8", carrot_web_me_script},
    {"/team.html", "text/html; charset=utf-8", carrot_web_team_page},
    {"/team_script.js", "text/javascript; charset=utf-8", carrot_web_team_script},
    {"/adoption.html", "text/html; charset=utf-8", carrot_web_adoption_page},
    {"/adoption_script.js", "text/javascript; charset=utf-8", carrot_web_adoption_script},
    {"/style.css", "text/css; charset=utf-8", carrot_web_style},
};

const char *pages_file(const char *path, const char **typep, size_t *lenp) {
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (strcmp(path, files[i].path) == 0) {
            *typep = files[i].type;
            *lenp = strlen(files[i].body);
            return files[i].body;
        }
    return NULL;
}

char *pages_read(const char *path, size_t max, size_t *lenp, char *errstr, size_t errstr_size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errstr, errstr_size, "could not open file \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int failed = !buf || ferror(f);
    fclose(f);
    if (failed || n > max) {
        if (failed) snprintf(errstr, errstr_size, "could not read file \"%s\"", path);
        else
            snprintf(errstr, errstr_size, "file \"%s\" is over %zu bytes", path, max);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *lenp = n;
    char *fit = realloc(buf, n + 1);
    return fit ? fit : buf;
}
