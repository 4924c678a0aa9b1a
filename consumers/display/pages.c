/* pages.c: the TV, participant and supervisor pages, compiled in (web/, embedded at
 * build time: no files to install, no CDN: the screens may have no
 * Internet). */
#include "display.h"

#include <string.h>

extern const char carrot_web_tv_page[], carrot_web_tv_script[], carrot_web_me_page[],
    carrot_web_me_script[], carrot_web_team_page[], carrot_web_team_script[], carrot_web_style[];

static const struct {
    const char *path, *type, *body;
} files[] = {
    {"/tv.html", "text/html; charset=utf-8", carrot_web_tv_page},
    {"/me.html", "text/html; charset=utf-8", carrot_web_me_page},
    {"/tv_script.js", "text/javascript; charset=utf-8", carrot_web_tv_script},
    {"/me_script.js", "text/javascript; charset=utf-8", carrot_web_me_script},
    {"/team.html", "text/html; charset=utf-8", carrot_web_team_page},
    {"/team_script.js", "text/javascript; charset=utf-8", carrot_web_team_script},
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
